"""Accounts, the double-entry journal, and the bank gateway."""
