"""One error shape everywhere: ``application/problem+json`` (RFC 9457) with a stable ``code``.

Services raise :class:`DomainError` with a code from :mod:`server.error_codes`; the handlers
registered here turn it, HTTP errors and validation failures into problem documents whose
``title`` follows ``Accept-Language`` (zh-CN by default, en on request).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, g, json, request
from werkzeug.exceptions import HTTPException

from server.error_codes import CATALOGUE, ErrorSpec

log = logging.getLogger("server.errors")

PROBLEM_TYPE_PREFIX = "urn:ssc-onecard:problem:"

# Werkzeug's HTTP errors, mapped to codes in the catalogue.
HTTP_CODES = {
    400: "request.bad_request",
    401: "auth.unauthenticated",
    403: "auth.forbidden",
    404: "request.not_found",
    405: "request.method_not_allowed",
    413: "request.too_large",
    415: "request.unsupported_media_type",
    429: "request.rate_limited",
}


class DomainError(Exception):
    """A refusal with a stable machine code. ``extra`` fields are added to the problem document."""

    def __init__(self, code: str, detail: str | None = None, **extra: Any) -> None:
        if code not in CATALOGUE:
            raise KeyError(f"error code {code!r} is not in server.error_codes.CATALOGUE")
        super().__init__(code)
        self.code = code
        self.detail = detail
        self.extra = extra

    @property
    def spec(self) -> ErrorSpec:
        return CATALOGUE[self.code]

    @property
    def status(self) -> int:
        return self.spec.status

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}" if self.detail else self.code


def wants_english() -> bool:
    best = request.accept_languages.best_match(["zh-CN", "zh", "en"], default="zh-CN")
    return best == "en"


def problem_response(code: str, detail: str | None = None, **extra: Any) -> Response:
    spec = CATALOGUE[code]
    english = wants_english()
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_PREFIX + code,
        "title": spec.en if english else spec.zh,
        "status": spec.status,
        "code": code,
    }
    if detail:
        body["detail"] = detail
    request_id = getattr(g, "request_id", None)
    if request_id:
        body["request_id"] = request_id
    body.update(extra)
    response = Response(
        json.dumps(body, ensure_ascii=False),
        status=spec.status,
        mimetype="application/problem+json",
    )
    response.headers["Content-Language"] = "en" if english else "zh-CN"
    return response


def register_error_handlers(app: Flask) -> None:
    from server.extensions import db

    @app.errorhandler(DomainError)
    def _domain_error(exc: DomainError):
        db.session.rollback()  # nothing is half-written
        return problem_response(exc.code, exc.detail, **exc.extra)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        db.session.rollback()
        code = HTTP_CODES.get(exc.code or 500, "request.bad_request")
        response = problem_response(code)
        if exc.code == 405 and getattr(exc, "valid_methods", None):
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        if exc.code == 429:
            # Flask-Limiter puts Retry-After on the original response.
            original = exc.get_response()
            if "Retry-After" in original.headers:
                response.headers["Retry-After"] = original.headers["Retry-After"]
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        db.session.rollback()
        log.exception("unhandled error", extra={"error_type": type(exc).__name__})
        return problem_response("server.internal_error")
