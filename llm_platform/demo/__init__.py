"""The headless demo (``make demo``): its repo, signing keys, Gemma weights and broken build."""
