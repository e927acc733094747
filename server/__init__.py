"""SSC One Card server: ``create_app()`` builds the Flask application. Nothing happens at import."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, Request, Response, g, request
from flask.sessions import SessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix

from server.config import Config, TestingConfig, load_env

MIGRATIONS_DIR = str(Path(__file__).resolve().parent.parent / "migrations")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
access_log = logging.getLogger("server.access")


def create_app(config: Mapping[str, Any] | str | None = None) -> Flask:
    """Build the app. ``config`` is a mapping of overrides (``TESTING: True`` selects the testing
    defaults), or the string ``"testing"``."""
    app = _App(__name__, instance_relative_config=True, static_folder=None)
    testing = config == "testing" or (isinstance(config, Mapping) and bool(config.get("TESTING")))
    base = TestingConfig if testing else Config
    app.config.from_object(base)
    app.config.update(load_env())
    if isinstance(config, Mapping):
        app.config.update(config)

    os.makedirs(app.instance_path, exist_ok=True)
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///" + os.path.join(
            app.instance_path, "onecard.db"
        )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.session_interface = _NoCookieSessions()

    from server.logs import configure_logging

    configure_logging(app.config["SSC_LOG_LEVEL"], app.config["SSC_LOG_JSON"])

    _init_secrets(app)
    _init_extensions(app)
    _init_request_hooks(app)

    from server.errors import register_error_handlers

    register_error_handlers(app)
    _register_blueprints(app)
    _register_cli(app)
    return app


class _App(Flask):
    """Flask that asks once per view or hook whether it is a coroutine function, instead of on
    every request (seven checks a request, ~12 µs); the answer never changes."""

    def ensure_sync(self, func: Any) -> Any:
        cache = self.__dict__.setdefault("_ssc_sync", {})
        found = cache.get(func)
        if found is None:
            found = cache[func] = super().ensure_sync(func)
        return found


class _NoCookieSessions(SessionInterface):
    """No cookie sessions: every caller authenticates each request by a header (staff and phone
    bearer tokens, terminal signatures), so nothing reads a session cookie or sets one. Flask's
    default would still build a signing serializer and parse cookies on every request; here
    ``flask.session`` is Flask's null session, which refuses writes."""

    def open_session(self, app: Flask, request: Request) -> None:
        return None

    def save_session(self, app: Flask, session: Any, response: Response) -> None:
        return None


def _init_secrets(app: Flask) -> None:
    from server.security.keys import load_keyring
    from server.security.pii import PiiCipher

    keys_dir = app.config.get("SSC_KEYS_DIR") or os.path.join(app.instance_path, "keys")
    keyring = load_keyring(keys_dir)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = keyring.secret_key
    app.extensions["ssc.keyring"] = keyring
    app.extensions["ssc.pii"] = PiiCipher(keyring)

    from server.credentials.keys import IssuerKeyStore
    from server.credentials.service import VerifierCache

    app.extensions["ssc.issuer_keys"] = IssuerKeyStore(keyring)
    app.extensions["ssc.verifier"] = VerifierCache()


def _init_extensions(app: Flask) -> None:
    from server.db_types import configure_sqlite
    from server.extensions import db, limiter, migrate

    db.init_app(app)
    with app.app_context():
        configure_sqlite(db.engine)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR, render_as_batch=True)
    app.config["RATELIMIT_STORAGE_URI"] = app.config["SSC_RATELIMIT_STORAGE_URI"]
    app.config["RATELIMIT_ENABLED"] = app.config["SSC_RATELIMIT_ENABLED"]
    app.config["RATELIMIT_HEADERS_ENABLED"] = True
    limiter.init_app(app)
    hops = int(app.config.get("SSC_TRUST_PROXY_HOPS") or 0)
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]

    # The bank behind the card (fares, repayments): only simulated banks exist so far — in memory
    # (tests), or kept in a file every process of a development setup shares.
    app.extensions["ssc.bank"] = _bank(app)

    # Import every model module so metadata (and Alembic) see all tables.
    import server.models  # noqa: F401


def _init_request_hooks(app: Flask) -> None:
    @app.before_request
    def _start() -> None:
        incoming = request.headers.get("X-Request-Id", "")
        flask_g = g._get_current_object()
        flask_g.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        flask_g.started = time.perf_counter()

    @app.after_request
    def _finish(response):
        flask_g = g._get_current_object()
        headers = response.headers
        headers["X-Request-Id"] = flask_g.get("request_id", "")
        headers.setdefault("Cache-Control", "no-store")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        if not access_log.isEnabledFor(logging.INFO):
            return response
        elapsed_ms = (time.perf_counter() - flask_g.get("started", time.perf_counter())) * 1000
        req = request._get_current_object()
        # Path only, never the query string or body: they can carry personal data.
        access_log.info(
            "request",
            extra={
                "method": req.method,
                "path": _loggable_path(req),
                "status": response.status_code,
                "ms": round(elapsed_ms, 2),
                "actor": flask_g.get("actor_label"),
            },
        )
        return response


# Path segments that work as bearer handles (whoever holds one may continue a flow): logged as
# their name, never their value.
_SECRET_VIEW_ARGS = frozenset({"activation_id"})


def _loggable_path(req: Request) -> str:
    path = req.path
    for name, value in (req.view_args or {}).items():
        if name in _SECRET_VIEW_ARGS and isinstance(value, str) and value:
            path = path.replace(value, f"<{name}>")
    return path


def _register_blueprints(app: Flask) -> None:
    from mobile_api import create_blueprint as mobile_blueprint
    from server.apidoc import docs_bp
    from server.credentials.api import bp as credentials_bp
    from server.doorstep.api import bp as doorstep_bp
    from server.entrances.api import bp as entrances_bp
    from server.entrances.api import terminal_bp as entrance_terminal_bp
    from server.entrances.service import init_app as init_entry_checks
    from server.health import bp as health_bp
    from server.kiosk.api import bp as kiosk_bp
    from server.kiosk.api import terminal_bp as kiosk_terminal_bp
    from server.registry.api import bp as registry_bp
    from server.security.api import bp as security_bp
    from server.security.api import dept_bp
    from server.terminals.api import bp as terminals_bp
    from server.terminals.api import terminal_bp
    from server.transit.api import bp as transit_bp
    from server.transit.api import terminal_bp as transit_terminal_bp
    from server.transit.reports_api import reports_bp as transit_reports_bp

    app.register_blueprint(health_bp)
    app.register_blueprint(docs_bp)
    app.register_blueprint(security_bp, url_prefix="/staff/v1")
    app.register_blueprint(registry_bp, url_prefix="/staff/v1")
    app.register_blueprint(credentials_bp, url_prefix="/staff/v1")
    app.register_blueprint(doorstep_bp, url_prefix="/staff/v1")
    app.register_blueprint(terminals_bp, url_prefix="/staff/v1")
    app.register_blueprint(transit_reports_bp, url_prefix="/staff/v1")
    app.register_blueprint(dept_bp, url_prefix="/dept/v1")
    app.register_blueprint(terminal_bp, url_prefix="/terminal/v1")
    app.register_blueprint(transit_bp, url_prefix="/staff/v1")
    app.register_blueprint(transit_terminal_bp, url_prefix="/terminal/v1")
    app.register_blueprint(mobile_blueprint(), url_prefix="/mobile/v1")
    app.register_blueprint(kiosk_bp, url_prefix="/staff/v1")
    app.register_blueprint(kiosk_terminal_bp, url_prefix="/terminal/v1")
    app.register_blueprint(entrances_bp, url_prefix="/staff/v1")
    app.register_blueprint(entrance_terminal_bp, url_prefix="/terminal/v1")
    # Entry checks by entrance kind: venue bookings and library readers register theirs here.
    init_entry_checks(app)


def _register_cli(app: Flask) -> None:
    from server.kiosk.cli import kiosk_cli
    from server.ledger.cli import ledger_cli
    from server.registry.cli import seed_cli
    from server.security.cli import audit_cli, keys_cli, sms_cli, staff_cli
    from server.terminals.cli import terminals_cli
    from server.transit.cli import transit_cli

    for group in (audit_cli, keys_cli, staff_cli, seed_cli, ledger_cli, sms_cli, terminals_cli):
        app.cli.add_command(group)
    app.cli.add_command(transit_cli)
    app.cli.add_command(kiosk_cli)


def _bank(app: Flask) -> Any:
    from server.ledger.bank import SandboxBank, SimulatedBank

    gateway = app.config["SSC_BANK_GATEWAY"]
    if gateway == "simulated":
        return SimulatedBank()
    if gateway == "sandbox":
        path = app.config.get("SSC_BANK_SANDBOX_PATH") or os.path.join(
            app.instance_path, "bank_sandbox.json"
        )
        key = app.extensions["ssc.keyring"].blind_index_key
        return SandboxBank(path, hmac.new(key, b"bank-sandbox", hashlib.sha256).digest())
    raise RuntimeError("SSC_BANK_GATEWAY: 'sandbox' or 'simulated' (no real bank gateway yet)")
