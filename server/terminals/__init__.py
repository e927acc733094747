"""Terminals: gates, validators, self-check machines, POS devices and kiosks.

``rules`` (pure: kinds, scenes, request signing), ``models`` and ``service`` (registry, signed
request authentication, list downloads, online verification), ``auth`` (``require_terminal``),
``api`` (staff registry ``bp`` and terminal ``terminal_bp``), ``cli``; ``offline`` and ``client``
run on the terminal itself (no Flask, no database).
"""
