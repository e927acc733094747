"""The reference terminal: signs requests to ``/terminal/v1``, downloads lists with ETags, keeps an
:class:`~server.terminals.offline.OfflineGate` up to date, and verifies online.

No Flask, no database: ``requests`` plus :mod:`server.terminals.rules` / ``offline``::

    client = TerminalClient("https://onecard.example", "GZM-L3-0001", secret)
    gate = client.offline_gate()            # downloads both lists
    gate.scan(qr_text, "transit", now)      # offline
    client.sync(gate)                       # later: 304s or a revocation delta
    client.verify(qr_text, "transit")       # online
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import requests
from requests.auth import AuthBase

from server.terminals.offline import OfflineGate
from server.terminals.rules import sign_headers


def _system_clock() -> datetime:
    return datetime.now(UTC)


class TerminalAuth(AuthBase):
    """``requests`` auth that adds X-Terminal-Id, X-Timestamp, X-Nonce and X-Signature.

    Signs the path and query exactly as they go on the request line, and the exact body bytes."""

    def __init__(
        self, code: str, secret: str, clock: Callable[[], datetime] = _system_clock
    ) -> None:
        self.code = code
        self.secret = secret
        self.clock = clock

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        body = r.body
        if body is not None and not isinstance(body, bytes | str):
            raise TypeError("TerminalAuth signs bytes or str bodies only (not streams)")
        headers = sign_headers(
            self.code, self.secret, r.method or "GET", r.path_url, body, self.clock()
        )
        r.headers.update(headers)
        return r


class TerminalError(Exception):
    """A problem+json refusal from the server; ``code`` is its stable code."""

    def __init__(self, status: int, code: str | None, body: Any) -> None:
        super().__init__(f"{status} {code}")
        self.status = status
        self.code = code
        self.body = body


class TerminalClient:
    def __init__(
        self,
        base_url: str,
        code: str,
        secret: str,
        *,
        session: requests.Session | None = None,
        clock: Callable[[], datetime] = _system_clock,
        timeout: float = 10.0,
    ) -> None:
        self.base_url = base_url.rstrip("/") + "/terminal/v1"
        self.http = session or requests.Session()
        self.http.auth = TerminalAuth(code, secret, clock)
        self.timeout = timeout
        self.etags: dict[str, str] = {}

    def _get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """The document, or None when it is unchanged since the last download (304)."""
        headers = {}
        if path in self.etags:
            headers["If-None-Match"] = self.etags[path]
        response = self.http.get(
            self.base_url + path, params=params, headers=headers, timeout=self.timeout
        )
        if response.status_code == 304:
            return None
        self._raise_for_problem(response)
        if "ETag" in response.headers:
            self.etags[path] = response.headers["ETag"]
        return response.json()

    @staticmethod
    def _raise_for_problem(response: requests.Response) -> None:
        if response.status_code < 400:
            return
        try:
            body = response.json()
        except ValueError:
            body = None
        code = body.get("code") if isinstance(body, dict) else None
        raise TerminalError(response.status_code, code, body)

    def trust_list(self) -> dict[str, Any] | None:
        return self._get("/trust-list")

    def revocation_list(self, since: int | None = None) -> dict[str, Any] | None:
        # A delta's ETag depends on ``since``; only reuse it for the same question.
        path = "/revocation-list" if since is None else f"/revocation-list?since={since}"
        return self._get(path)

    def verify(self, code: str, scene: str) -> dict[str, Any]:
        """Online verification; raises :class:`TerminalError` (``credential.*`` …) on refusal."""
        response = self.http.post(
            self.base_url + "/verify", json={"code": code, "scene": scene}, timeout=self.timeout
        )
        self._raise_for_problem(response)
        return response.json()

    def offline_gate(self, **gate_kwargs: Any) -> OfflineGate:
        trust = self.trust_list()
        revocations = self.revocation_list()
        if trust is None or revocations is None:  # cached ETags from an earlier gate
            self.etags.clear()
            trust, revocations = self.trust_list(), self.revocation_list()
        assert trust is not None and revocations is not None
        return OfflineGate(trust, revocations, **gate_kwargs)

    def sync(self, gate: OfflineGate) -> None:
        """Bring ``gate`` up to date: the trust list if changed, the revocation delta since the
        gate's version, or the full list when the delta does not follow on."""
        trust = self.trust_list()
        delta = self.revocation_list(since=gate.revocation_version)
        try:
            gate.refresh(trust, delta)
        except ValueError:
            self.etags.pop("/revocation-list", None)
            gate.refresh(trust, self.revocation_list())
