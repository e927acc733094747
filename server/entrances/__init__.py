"""Entrances of museums, libraries and scenic spots, the terminals standing at them, and every
entry decision (card tap or QR code)."""
