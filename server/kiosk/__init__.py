"""Kiosk-facing server parts: server-issued card challenges (for any card-reading terminal),
self-service activation at a kiosk, and help requests (call staff)."""
