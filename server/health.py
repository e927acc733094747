"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text

from server.extensions import db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """The process is up. Never touches the database."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    """The process can serve: the database answers."""
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:  # any driver error means not ready
        db.session.rollback()
        return jsonify(status="unavailable", checks={"database": "fail"}), 503
    return jsonify(status="ok", checks={"database": "ok"})
