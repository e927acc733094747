"""Plain-Python controllers (no Kivy): one per screen flow, unit-tested without a window."""
