"""Leaf modules every family imports: errors, durations, digests, files, repo layout, numbers."""
