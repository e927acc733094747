"""Cardholder API mounted at ``/mobile/v1``; ``client.py`` is the reference phone."""

from __future__ import annotations

from flask import Blueprint


def create_blueprint() -> Blueprint:
    from mobile_api.auth import bp as auth_bp
    from mobile_api.card import bp as card_bp
    from mobile_api.doorstep import bp as doorstep_bp
    from mobile_api.ecard import bp as ecard_bp
    from mobile_api.me import bp as me_bp
    from mobile_api.transit import bp as transit_bp

    bp = Blueprint("mobile", __name__)
    bp.register_blueprint(auth_bp)
    bp.register_blueprint(me_bp)
    bp.register_blueprint(card_bp)
    bp.register_blueprint(ecard_bp)
    bp.register_blueprint(transit_bp)
    bp.register_blueprint(doorstep_bp)
    return bp
