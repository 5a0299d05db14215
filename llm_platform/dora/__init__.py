"""Delivery (DORA) metrics over the promotion ledger: lead time, frequency, failures, restores."""
