"""Actors, permissions and data scopes, personal-data encryption, and the audit chain."""
