"""Authentication and the permission check at the edge, in one decorator.

``@require("card.issue")`` authenticates the bearer token, builds the :class:`Actor`, and checks
the permission; data scopes (city, department) are checked by services with :func:`ensure_scope`
once they have loaded the object. Both decisions live in :mod:`server.security.rules`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import g, request

from server.clock import utcnow
from server.errors import DomainError
from server.extensions import db
from server.security.rules import Actor, ActorKind, has_permission, in_city_scope

SCHEMES = {
    ActorKind.STAFF: "staffToken",
    ActorKind.CARDHOLDER: "cardholderToken",
    ActorKind.DEPARTMENT: "departmentKey",
}


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def current_actor() -> Actor:
    return g.actor


def require(
    permission: str, *, actors: tuple[ActorKind, ...] = (ActorKind.STAFF,)
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any):
            from server.security.service import authenticate

            token = bearer_token()
            if token is None:
                raise DomainError("auth.unauthenticated")
            actor = authenticate(db.session, token, utcnow())
            if actor is None:
                raise DomainError("auth.invalid_token")
            g.actor = actor
            g.actor_label = actor.label
            g.token = token
            if actor.kind not in actors or not has_permission(actor, permission):
                raise DomainError("auth.forbidden")
            return view(*args, **kwargs)

        wrapper.__auth__ = {  # type: ignore[attr-defined]
            "permission": permission,
            "actors": tuple(str(a) for a in actors),
            "schemes": [SCHEMES[a] for a in actors if a in SCHEMES],
        }
        return wrapper

    return decorate


def ensure_scope(actor: Actor, *city_codes: str | None) -> None:
    """Raise ``auth.out_of_scope`` unless the actor's city scope covers one of ``city_codes``."""
    if not in_city_scope(actor, *city_codes):
        raise DomainError("auth.out_of_scope")
