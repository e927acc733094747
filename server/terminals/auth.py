"""``@require_terminal()``: authenticate a signed terminal request at the edge.

The rules are in :mod:`server.terminals.rules` and :func:`service.authenticate_request`; this
decorator reads the request, sets ``g.actor`` / ``g.terminal``, and commits the request's nonce
together with the view's work (a view that refuses by raising rolls both back).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Collection
from typing import Any

from flask import current_app, g, request

from server.clock import utcnow
from server.credentials.codec import Scene
from server.errors import DomainError
from server.extensions import db
from server.terminals import service
from server.terminals.models import Terminal
from server.terminals.rules import (
    DEFAULT_CLOCK_SKEW_S,
    HEADER_NONCE,
    HEADER_TERMINAL,
    SIGNED_HEADERS,
)

log = logging.getLogger("server.terminals")

TERMINAL_ERRORS = (
    "terminal.unauthenticated",
    "terminal.unknown",
    "terminal.disabled",
    "terminal.bad_signature",
    "terminal.stale_timestamp",
    "terminal.nonce_reused",
)


def clock_skew_s() -> int:
    return int(current_app.config.get("SSC_TERMINAL_CLOCK_SKEW_S", DEFAULT_CLOCK_SKEW_S))


def current_terminal() -> Terminal:
    return g.terminal


def take_deferred_nonce() -> str | None:
    """For a view under ``require_terminal(defer_nonce=True)``: the request's nonce, which the
    view now must record (in its transaction, before it writes anything else) or refuse with
    ``terminal.nonce_reused``. None when already taken."""
    return g.pop("terminal_nonce", None)


def require_terminal(
    scenes: Collection[Scene] | None = None,
    *,
    defer_nonce: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Only a registered, active terminal with a valid request signature may call the view.
    ``scenes``: the terminal's kind must serve at least one of them (else 403
    ``terminal.scene_not_allowed``). ``defer_nonce``: the nonce is not recorded before the view
    runs; the view must take it (:func:`take_deferred_nonce`) and record it in its own first
    statement (one round trip less), and in the same transaction re-check the terminal's status
    and secret version (``service.stale_terminal_problem`` / ``check_terminal_current``): the
    terminal record may then come from a longer-lived cache."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any):
            now = utcnow()
            req = request._get_current_object()  # one proxy lookup instead of a dozen
            headers = req.headers
            try:
                terminal = service.authenticate_request(
                    db.session,
                    headers={name: headers.get(name) for name in SIGNED_HEADERS},
                    method=req.method,
                    path=req.script_root + req.path,
                    query=req.query_string.decode("latin-1"),
                    body=req.get_data(cache=True),
                    now=now,
                    clock_skew_s=clock_skew_s(),
                    scenes=scenes,
                    record_nonce=not defer_nonce,
                    revalidated=defer_nonce,
                )
            except DomainError as exc:
                # The code only: the headers are not secret, but there is nothing to add.
                log.warning(
                    "terminal request refused",
                    extra={"code": exc.code, "terminal": headers.get(HEADER_TERMINAL)},
                )
                raise
            flask_g = g._get_current_object()
            flask_g.terminal = terminal
            flask_g.actor = service.terminal_actor(terminal)
            flask_g.actor_label = flask_g.actor.label
            if defer_nonce:
                flask_g.terminal_nonce = headers.get(HEADER_NONCE)
            result = view(*args, **kwargs)
            if defer_nonce and g.pop("terminal_nonce", None) is not None:
                # A view that defers the nonce must record it in its own first statement; one
                # that did not would have run unprotected against a replayed request.
                raise RuntimeError(f"{view.__name__} deferred the request nonce but never took it")
            # Nothing to commit when the view used its own connection and never made a session.
            if db.session.registry.has() and db.session().in_transaction():
                db.session.commit()  # the nonce (and last_seen_at) of a read-only request
            return result

        wrapper.__terminal_auth__ = {  # type: ignore[attr-defined]
            "scenes": sorted(s.name.lower() for s in scenes) if scenes else None,
            "errors": TERMINAL_ERRORS,
        }
        return wrapper

    return decorate
