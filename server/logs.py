"""Structured JSON logs with the request id, and a last line of defence against personal data.

Product code never logs ID, phone or bank account numbers; :class:`RedactPersonalData` masks
anything that still looks like one before a record is written.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

from flask import g, has_request_context

_PII_PATTERNS = [
    re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])"),  # resident ID / permits
    re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)"),  # mainland mobile numbers
    re.compile(r"(?<!\d)\d{16,19}(?!\d)"),  # bank card numbers
]

_STANDARD_ATTRS = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message"}


def redact(text: str) -> str:
    for pattern in _PII_PATTERNS:
        text = pattern.sub("[REDACTED]", text)
    return text


class RedactPersonalData(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD_ATTRS and isinstance(value, str):
                record.__dict__[key] = redact(value)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if has_request_context():
            entry["request_id"] = getattr(g, "request_id", None)
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: str = "INFO", as_json: bool = True) -> None:
    """Configure the ``server`` logger tree (called from ``create_app``, idempotent)."""
    logger = logging.getLogger("server")
    logger.setLevel(level.upper())
    for handler in list(logger.handlers):
        if getattr(handler, "_ssc", False):
            logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._ssc = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter() if as_json else logging.Formatter(logging.BASIC_FORMAT))
    handler.addFilter(RedactPersonalData())
    logger.addHandler(handler)
    logger.propagate = True
    # The development server's own request line repeats the access log with the raw path (which
    # may hold a flow handle); ``server.access`` already records every request, so drop it.
    dev_server = logging.getLogger("werkzeug")
    if not any(isinstance(f, DropDevServerRequestLines) for f in dev_server.filters):
        dev_server.addFilter(DropDevServerRequestLines())


class DropDevServerRequestLines(logging.Filter):
    """Drops werkzeug's ``"GET /path HTTP/1.1" 200 -`` lines; keeps its start-up and error lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and '] "%s" %s %s' in record.msg)
