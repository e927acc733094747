"""Unbound extensions; ``create_app`` binds them with ``init_app``."""

from __future__ import annotations

import time
from typing import Any

from flask import Flask, current_app, request
from flask_limiter import Limiter
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase


def _client_address() -> str:
    # ProxyFix (configured by SSC_TRUST_PROXY_HOPS) has already rewritten remote_addr.
    return request.remote_addr or "unknown"


# Stable constraint names so Alembic migrations are reproducible on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


_IDLE_SINCE = "ssc.idle_since"


def install_idle_ping(engine: Engine, idle_s: float) -> None:
    """Ping a pooled connection at checkout only when it has sat idle in the pool for at least
    ``idle_s`` seconds (0: at every checkout, like ``pool_pre_ping``). A connection that fails the
    ping is discarded and the pool hands out another (SQLAlchemy retries the checkout); a busy
    connection is not pinged, and if the database went away under it, the first statement's
    disconnect error makes SQLAlchemy invalidate the whole pool, so one request per process fails
    instead of every one. ``pool_recycle`` still bounds a connection's age."""

    @event.listens_for(engine, "checkin")
    def _checked_in(dbapi_connection: Any, record: Any) -> None:
        if dbapi_connection is not None:
            record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(_IDLE_SINCE)
        if since is None or time.monotonic() - since < idle_s:
            return  # new, or in use a moment ago
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # any failure: treat the connection as dead
            raise DisconnectionError("pooled connection failed its idle ping") from exc
        if not alive:
            raise DisconnectionError("pooled connection failed its idle ping")


class _SQLAlchemy(SQLAlchemy):
    """Flask-SQLAlchemy whose engines ping idle pooled connections (``SSC_DB_PING_IDLE_S``)
    instead of every checkout (``pool_pre_ping`` costs a round trip per request)."""

    def init_app(self, app: Flask) -> None:
        super().init_app(app)
        idle_s = app.config.get("SSC_DB_PING_IDLE_S")
        if idle_s is None:
            return
        with app.app_context():
            for engine in self.engines.values():
                install_idle_ping(engine, float(idle_s))


db = _SQLAlchemy(model_class=Base)
migrate = Migrate()


def _signed_terminal_request() -> bool:
    """Terminal routes (``require_terminal``) carry no rate limits: every request is signed with
    a registered terminal's secret and its nonce is single-use."""
    view = current_app.view_functions.get(request.endpoint or "")
    return getattr(view, "__terminal_auth__", None) is not None


class _Limiter(Limiter):
    """Flask-Limiter whose per-request check returns at once on signed terminal routes (a request
    filter would only run after the limiter has resolved the route's limits, ~35 µs a request on
    the busiest routes). Sign-in, SMS and door-to-door routes keep their limits."""

    def _check_request_limit(self, callable_name: str | None = None, in_middleware: bool = True):
        if _signed_terminal_request():
            return None
        return super()._check_request_limit(callable_name, in_middleware)


limiter = _Limiter(key_func=_client_address, default_limits=[], headers_enabled=True)
