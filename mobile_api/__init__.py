"""Cardholder API mounted at ``/mobile/v1``; ``client.py`` is the reference phone."""

from __future__ import annotations

from flask import Blueprint


def create_blueprint() -> Blueprint:
    from mobile_api.me import bp as me_bp

    bp = Blueprint("mobile", __name__)
    bp.register_blueprint(me_bp)
    return bp
