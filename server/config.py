"""Configuration classes. Values come from the class, then from ``SSC_*`` environment variables.

Every variable is listed in the README's configuration table; keep the two in step.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar


def _env_bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


class Config:
    # Database: SQLite under instance/ unless DATABASE_URL names another (PostgreSQL in production).
    SQLALCHEMY_DATABASE_URI: str | None = None
    # Pooled connections live at most 30 minutes; one idle in the pool for SSC_DB_PING_IDLE_S
    # seconds or more is pinged before use (and replaced if dead); busier ones are not.
    SQLALCHEMY_ENGINE_OPTIONS: ClassVar[dict[str, Any]] = {"pool_recycle": 1800}
    SSC_DB_PING_IDLE_S = 10.0
    SQLALCHEMY_TRACK_MODIFICATIONS = False

    # Secrets: generated under instance/keys on first run when not given.
    SECRET_KEY: str | None = None
    SSC_KEYS_DIR: str | None = None  # default: <instance>/keys

    # Requests
    MAX_CONTENT_LENGTH = 1 * 1024 * 1024  # 1 MiB: larger bodies get 413
    SSC_TRUST_PROXY_HOPS = 0  # X-Forwarded-For hops to trust behind a load balancer

    # Staff sessions
    SSC_STAFF_TOKEN_TTL_MINUTES = 480
    SSC_CARDHOLDER_TOKEN_TTL_MINUTES = 60 * 24 * 30

    # Rate limits (Flask-Limiter); memory:// is per process, use redis:// past one machine.
    SSC_RATELIMIT_STORAGE_URI = "memory://"
    SSC_RATELIMIT_SIGNIN = "10 per minute;50 per hour"
    SSC_RATELIMIT_SMS_PHONE = "5 per hour"  # SMS codes sent to one phone number
    SSC_RATELIMIT_SMS_ADDRESS = "20 per hour"  # SMS code requests from one client address
    # Door-to-door requests one cardholder may make (each try counts: a refused name check too)
    SSC_RATELIMIT_DOORSTEP_REQUEST = "5 per day"
    SSC_RATELIMIT_ENABLED = True

    # Cardholder sign-in by SMS code
    SSC_SMS_SENDER = "outbox"  # outbox: development sender writing to the sms_outbox table
    SSC_SMS_CODE_TTL_SECONDS = 300
    SSC_SMS_RESEND_SECONDS = 60

    # Cards
    SSC_PIN_MAX_TRIES = 3
    SSC_CARD_VALIDITY_YEARS = 10

    # E-card credentials
    SSC_CERT_VALIDITY_DAYS = 7
    SSC_ISSUER_KEY_LIFETIME_DAYS = 400
    SSC_ECARD_PER_USE_CAP_FEN = 20000  # ¥200: small-amount password-free limit per use
    SSC_SERVER_CODE_VALIDITY_S = 60
    SSC_CREDENTIAL_CLOCK_SKEW_S = 30
    SSC_PRESENTATION_TTL_S = 60
    SSC_VERIFIER_REFRESH_S = 1.0  # how often a process looks for new keys and revocations

    # Terminals: signed requests older or newer than this are refused (nonces kept twice as long)
    SSC_TERMINAL_CLOCK_SKEW_S = 300
    # How long a process trusts its copy of a terminal (status, secret), a transit terminal's
    # placement and the fare data version: a disabled terminal is refused within this time (an
    # online tap re-reads status and secret version in its own transaction: refused at once)
    SSC_TERMINAL_CACHE_S = 1.0

    # Card taps and the self-service kiosk: a server-issued card challenge lives this long; a
    # kiosk activation (identity check, then PIN) must finish within this time
    SSC_CARD_CHALLENGE_TTL_S = 60
    SSC_KIOSK_ACTIVATION_TTL_S = 300
    SSC_KIOSK_DIR: str | None = None  # demo kiosk files (terminal.json …); default <instance>/kiosk

    # Paying for rides: the bank behind the card (sandbox: simulated, kept in a file every process
    # of a development setup shares; simulated: in memory, for tests), and the unpaid transit debt
    # above which a card's codes are refused (reason "debt")
    SSC_BANK_GATEWAY = "sandbox"
    SSC_BANK_SANDBOX_PATH: str | None = None  # default <instance>/bank_sandbox.json
    SSC_TRANSIT_DEBT_LIMIT_FEN = 5000  # ¥50
    SSC_TRANSIT_REENTRY_MINUTES = 15  # a second metro entry this soon: transit.already_inside
    SSC_TRANSIT_EXIT_TIMEOUT_MINUTES = 240  # open entries close as no_exit (networks without one)
    SSC_TRANSIT_COLLECT_RETRY_S = 300  # an unanswered fare debit is asked again this much later

    # Logging
    SSC_LOG_LEVEL = "INFO"
    SSC_LOG_JSON = True

    TESTING = False


class TestingConfig(Config):
    TESTING = True
    SSC_LOG_JSON = True
    SSC_RATELIMIT_ENABLED = True
    # argon2 at its production cost makes the suite slow; tests keep the algorithm, not the cost.
    SSC_PASSWORD_HASH_FAST = True
    # Tests revoke and verify in the same second: look for revocations on every verification.
    SSC_VERIFIER_REFRESH_S = 0.0
    # ... and see terminal changes at once (tests that want the cache turn it on).
    SSC_TERMINAL_CACHE_S = 0.0
    # Each test's bank in memory, its failures scripted by the test.
    SSC_BANK_GATEWAY = "simulated"


# Environment variables read by load_env(); name -> converter.
ENV_VARS: dict[str, Any] = {
    "SSC_KEYS_DIR": str,
    "SSC_DB_PING_IDLE_S": float,
    "SSC_TRUST_PROXY_HOPS": int,
    "SSC_STAFF_TOKEN_TTL_MINUTES": int,
    "SSC_CARDHOLDER_TOKEN_TTL_MINUTES": int,
    "SSC_RATELIMIT_STORAGE_URI": str,
    "SSC_RATELIMIT_SIGNIN": str,
    "SSC_RATELIMIT_SMS_PHONE": str,
    "SSC_RATELIMIT_SMS_ADDRESS": str,
    "SSC_RATELIMIT_DOORSTEP_REQUEST": str,
    "SSC_RATELIMIT_ENABLED": _env_bool,
    "SSC_SMS_SENDER": str,
    "SSC_SMS_CODE_TTL_SECONDS": int,
    "SSC_SMS_RESEND_SECONDS": int,
    "SSC_PIN_MAX_TRIES": int,
    "SSC_CARD_VALIDITY_YEARS": int,
    "SSC_CERT_VALIDITY_DAYS": int,
    "SSC_ISSUER_KEY_LIFETIME_DAYS": int,
    "SSC_ECARD_PER_USE_CAP_FEN": int,
    "SSC_SERVER_CODE_VALIDITY_S": int,
    "SSC_CREDENTIAL_CLOCK_SKEW_S": int,
    "SSC_PRESENTATION_TTL_S": int,
    "SSC_VERIFIER_REFRESH_S": float,
    "SSC_TERMINAL_CLOCK_SKEW_S": int,
    "SSC_TERMINAL_CACHE_S": float,
    "SSC_CARD_CHALLENGE_TTL_S": int,
    "SSC_KIOSK_ACTIVATION_TTL_S": int,
    "SSC_KIOSK_DIR": str,
    "SSC_BANK_GATEWAY": str,
    "SSC_BANK_SANDBOX_PATH": str,
    "SSC_TRANSIT_DEBT_LIMIT_FEN": int,
    "SSC_TRANSIT_REENTRY_MINUTES": int,
    "SSC_TRANSIT_EXIT_TIMEOUT_MINUTES": int,
    "SSC_TRANSIT_COLLECT_RETRY_S": int,
    "SSC_LOG_LEVEL": str,
    "SSC_LOG_JSON": _env_bool,
    "SSC_MAX_CONTENT_LENGTH": int,
}


def load_env(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Overrides from the environment: ``SSC_*``, ``DATABASE_URL`` and ``SSC_SECRET_KEY``."""
    environ = dict(os.environ if environ is None else environ)
    out: dict[str, Any] = {}
    for name, convert in ENV_VARS.items():
        if name in environ and environ[name] != "":
            key = "MAX_CONTENT_LENGTH" if name == "SSC_MAX_CONTENT_LENGTH" else name
            out[key] = convert(environ[name])
    if environ.get("DATABASE_URL"):
        out["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(environ["DATABASE_URL"])
    if environ.get("SSC_SECRET_KEY"):
        out["SECRET_KEY"] = environ["SSC_SECRET_KEY"]
    return out


def normalise_database_url(url: str) -> str:
    """Accept the ``postgres://`` and ``postgresql://`` forms and use the psycopg 3 driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url
