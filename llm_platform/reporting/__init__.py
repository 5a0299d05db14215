"""Reporting what the pipeline did: notifications, commit statuses and failure alerts."""
