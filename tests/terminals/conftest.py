"""Terminal fixtures: registered terminals with their secrets, signed requests, and stand-ins for
the credential service's list documents."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest

from server.clock import utcnow
from server.extensions import db
from server.terminals import service
from server.terminals.rules import sign_headers


@dataclass
class TerminalHandle:
    id: int
    code: str
    kind: str
    city_code: str
    secret: str


@pytest.fixture
def make_terminal(app, now):
    """Register a terminal through the service (as the operator's CLI does)."""
    counter = {"n": 0}

    def make(
        kind: str = "metro_gate",
        city: str = "440100",
        code: str | None = None,
        status: str = "active",
    ) -> TerminalHandle:
        counter["n"] += 1
        code = code or f"T{city[2:4]}-{kind[:3].upper()}-{counter['n']:04d}"
        with app.app_context():
            terminal, secret = service.register_terminal(
                db.session, None, code=code, kind=kind, city_code=city, owner="广州地铁", now=now
            )
            if status != "active":
                terminal.status = status
                db.session.commit()
            handle = TerminalHandle(terminal.id, terminal.code, kind, city, secret)
            db.session.remove()
        return handle

    return make


@pytest.fixture
def gate(make_terminal):
    return make_terminal("metro_gate")


def signed(
    client,
    terminal: TerminalHandle,
    method: str,
    path: str,
    *,
    json_body: Any = None,
    body: bytes | None = None,
    at: datetime | int | None = None,
    nonce: str | None = None,
    secret: str | None = None,
    headers: dict[str, str] | None = None,
):
    """Send a request signed as ``terminal`` (``body`` overrides what was signed)."""
    data = json.dumps(json_body).encode() if json_body is not None else b""
    signed_headers = sign_headers(
        terminal.code,
        secret if secret is not None else terminal.secret,
        method,
        path,
        data,
        at if at is not None else utcnow(),
        nonce=nonce,
    )
    signed_headers.update(headers or {})
    kwargs: dict[str, Any] = {"headers": signed_headers}
    if json_body is not None or body is not None:
        kwargs["data"] = body if body is not None else data
        kwargs["content_type"] = "application/json"
    return client.open(path, method=method, **kwargs)


@dataclass
class FakeCredentials:
    """Stand-in for ``server.credentials.service``: documents of the published shape."""

    trust: dict[str, Any] = field(
        default_factory=lambda: {
            "version": 3,
            "generated_at": "2026-11-20T02:30:00+00:00",
            "keys": [
                {
                    "kid": 7,
                    "public_key": "O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik=",
                    "not_before": 1_700_000_000,
                    "not_after": 1_900_000_000,
                }
            ],
        }
    )
    revocation_version: int = 12
    verify_calls: list[dict[str, Any]] = field(default_factory=list)

    def trust_list_document(self, session, now):
        return {**self.trust, "generated_at": now.isoformat()}

    def revocation_list_document(self, session, since, now):
        full = since is None or since < 10
        return {
            "version": self.revocation_version,
            "since": None if full else since,
            "full": full,
            "add": {
                "serials": [{"serial": "123456789", "reason": "lost"}],
                "pseudonyms": [{"pseudonym": "a1b2c3d4e5f60718293a", "reason": "sealed"}],
            },
            "remove": {"serials": [] if full else ["42"], "pseudonyms": []},
        }

    def verify_online(self, session, *, text, scene, terminal_id, now, actor_label="terminal"):
        self.verify_calls.append(
            {"text": text, "scene": scene, "terminal_id": terminal_id, "label": actor_label}
        )
        return {
            "accepted": True,
            "kind": "device",
            "serial": "81985529216486895",
            "counter": 42,
            "categories": ["senior_65_plus"],
            "home_city": "440100",
            "per_use_cap_fen": 20000,
            "scene": scene.name.lower(),
            "generated_at": now.isoformat(),
        }


@pytest.fixture
def fake_credentials(monkeypatch):
    fake = FakeCredentials()
    monkeypatch.setattr(service, "credential_service", lambda: fake)
    return fake


def nonce_count(app) -> int:
    from sqlalchemy import func, select

    from server.terminals.models import TerminalNonce

    with app.app_context():
        count = db.session.execute(select(func.count()).select_from(TerminalNonce)).scalar_one()
        db.session.remove()
    return count
