"""Kiosk app for elderly cardholders and branch staff (Kivy)."""
