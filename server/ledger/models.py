"""Ledger models (placeholder until the ledger lands)."""
