"""The kiosk's only way to the server.

- Terminal calls (``/terminal/v1``) are signed with the kiosk's terminal secret
  (:mod:`kiosk_app.signing`, the scheme of ``server/terminals/rules.py``).
- Staff calls (``/staff/v1``) carry the signed-in staff member's bearer token.
- Connect and read timeouts on every call; retries (urllib3 ``Retry``) only for GETs — a POST
  (a challenge, an entry, a PIN) is never sent twice by the transport.
- A connection failure, a timeout or a 5xx without a problem document becomes
  :class:`ServerUnreachable`; a problem+json refusal becomes :class:`ApiError` with its stable
  ``code``, the HTTP status and the extra fields (``tries_left``, ``state``, ``problems`` …).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from kiosk_app.signing import sign_headers

PROBLEM_KEYS = frozenset({"type", "title", "status", "detail", "code", "instance", "request_id"})
DEFAULT_TIMEOUT = (3.05, 10.0)  # (connect, read) seconds


class ServerUnreachable(Exception):
    """The server could not be reached or did not answer (network down, timeout, 502/503 …)."""


class ApiError(Exception):
    """A refusal from the server: ``code`` (stable), ``status`` and the extra problem fields."""

    def __init__(self, code: str, status: int, extra: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {code}")
        self.code = code
        self.status = status
        self.extra = extra or {}


class _TerminalAuth(requests.auth.AuthBase):
    def __init__(self, terminal_id: str, secret: str, clock: Callable[[], float]) -> None:
        self.terminal_id = terminal_id
        self.secret = secret
        self.clock = clock

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        body = r.body
        if body is not None and not isinstance(body, bytes | str):
            raise TypeError("only bytes or str bodies are signed")
        r.headers.update(
            sign_headers(
                self.terminal_id,
                self.secret,
                r.method or "GET",
                r.path_url,
                body,
                int(self.clock()),
            )
        )
        return r


class _BearerAuth(requests.auth.AuthBase):
    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self.token}"
        return r


def _session(retries: int) -> requests.Session:
    session = requests.Session()
    retry = Retry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        backoff_factor=0.2,
        status_forcelist=(502, 503, 504),
        allowed_methods=frozenset({"GET"}),  # idempotent only: POSTs are never re-sent
        raise_on_status=False,
    )
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class KioskApi:
    """One kiosk's client: terminal identity for card calls, optional staff session."""

    def __init__(
        self,
        base_url: str,
        terminal_id: str,
        secret: str,
        *,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        retries: int = 2,
        lang: str = "zh",
        clock: Callable[[], float] = time.time,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.lang = lang
        self.http = session or _session(retries)
        self._terminal_auth = _TerminalAuth(terminal_id, secret, clock)
        self._staff_token: str | None = None
        self.staff_user: dict[str, Any] | None = None

    # --- transport ------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        auth: requests.auth.AuthBase | None = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        data = None
        headers = {"Accept-Language": "en" if self.lang == "en" else "zh-CN"}
        if body is not None:
            data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
        try:
            response = self.http.request(
                method,
                self.base_url + path,
                data=data,
                params=params,
                headers=headers,
                auth=auth,
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise ServerUnreachable(type(exc).__name__) from exc
        return self._result(response)

    @staticmethod
    def _result(response: requests.Response) -> Any:
        if response.status_code == 204:
            return None
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if response.status_code < 400:
            return payload
        code = payload.get("code") if isinstance(payload, dict) else None
        if not code:
            if response.status_code >= 500 or response.status_code in (408, 429):
                raise ServerUnreachable(f"HTTP {response.status_code}")
            code = "request.not_found" if response.status_code == 404 else "request.bad_request"
            payload = {}
        extra = {k: v for k, v in payload.items() if k not in PROBLEM_KEYS}
        raise ApiError(code, response.status_code, extra)

    def _terminal(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        return self._call(method, "/terminal/v1" + path, body=body, auth=self._terminal_auth)

    def _staff(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        if self._staff_token is None:
            raise ApiError("auth.unauthenticated", 401)
        return self._call(
            method,
            "/staff/v1" + path,
            body=body,
            params=params,
            auth=_BearerAuth(self._staff_token),
        )

    # --- card taps, entries, activation, help (terminal) ------------------------------------

    def card_challenge(self) -> dict[str, Any]:
        return self._terminal("POST", "/card-challenges", {})

    def enter(self, entrance: str, card: dict[str, Any]) -> dict[str, Any]:
        return self._terminal("POST", "/entries", {"entrance": entrance, "card": card})

    def start_activation(self, card: dict[str, Any]) -> dict[str, Any]:
        return self._terminal("POST", "/activations", {"card": card})

    def confirm_identity(self, activation_id: str, id_last6: str) -> dict[str, Any]:
        return self._terminal(
            "POST", f"/activations/{activation_id}/identity", {"id_last6": id_last6}
        )

    def set_pin(self, activation_id: str, pin: str, pin_confirm: str) -> dict[str, Any]:
        return self._terminal(
            "POST", f"/activations/{activation_id}/pin", {"pin": pin, "pin_confirm": pin_confirm}
        )

    def request_help(self, topic: str, note: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"topic": topic}
        if note:
            body["note"] = note
        return self._terminal("POST", "/help-requests", body)

    def help_status(self, help_id: int) -> dict[str, Any]:
        return self._terminal("GET", f"/help-requests/{int(help_id)}")

    def cancel_help(self, help_id: int) -> dict[str, Any]:
        """Take back a call for staff nobody has claimed yet. Idempotent on the server (a second
        cancel answers the cancelled request), so a lost answer is asked once more (each try
        signed afresh); ``help.already_claimed`` once staff took it."""
        path = f"/help-requests/{int(help_id)}/cancel"
        try:
            return self._terminal("POST", path, {})
        except ServerUnreachable:
            return self._terminal("POST", path, {})

    # --- staff -----------------------------------------------------------------------------

    @property
    def staff_signed_in(self) -> bool:
        return self._staff_token is not None

    def staff_sign_in(self, username: str, password: str, totp: str) -> dict[str, Any]:
        result = self._call(
            "POST",
            "/staff/v1/auth/sign-in",
            body={"username": username, "password": password, "totp": totp},
        )
        self._staff_token = result["token"]
        self.staff_user = result.get("user")
        return result

    def staff_sign_out(self) -> None:
        """Ends the session on the server when it can; forgets the token in any case."""
        token, self._staff_token, self.staff_user = self._staff_token, None, None
        if token is None:
            return
        with contextlib.suppress(ServerUnreachable, ApiError):
            self._call("POST", "/staff/v1/auth/sign-out", auth=_BearerAuth(token))

    def find_person(self, id_number: str) -> dict[str, Any]:
        return self._staff("POST", "/persons/search", {"id_number": id_number})

    def register_person(
        self, id_number: str, name: str, city_code: str, phone: str | None = None
    ) -> dict[str, Any]:
        body = {"id_number": id_number, "name": name, "city_code": city_code}
        if phone:
            body["phone"] = phone
        return self._staff("POST", "/persons", body)

    def get_person(self, person_id: int) -> dict[str, Any]:
        return self._staff("GET", f"/persons/{int(person_id)}")

    def apply_card(self, person_id: int, issuing_city: str, bank_code: str) -> dict[str, Any]:
        return self._staff(
            "POST",
            f"/persons/{int(person_id)}/cards",
            {"generation": 3, "issuing_city": issuing_city, "bank_code": bank_code},
        )

    def issue_on_site(self, card_id: int, serial: str) -> dict[str, Any]:
        return self._staff("POST", f"/cards/{int(card_id)}/issue-on-site", {"serial": serial})

    def activate_card(self, card_id: int, pin: str) -> dict[str, Any]:
        return self._staff("POST", f"/cards/{int(card_id)}/activate", {"pin": pin})

    def report_loss(self, card_id: int, reason: str) -> dict[str, Any]:
        return self._staff("POST", f"/cards/{int(card_id)}/report-loss", {"reason": reason})

    def replace_card(self, card_id: int, reason: str) -> dict[str, Any]:
        return self._staff("POST", f"/cards/{int(card_id)}/replace", {"reason": reason})

    def doorstep_requests(self, page: int = 1, per_page: int = 6) -> Any:
        return self._staff(
            "GET", "/doorstep-requests", params={"page": int(page), "per_page": int(per_page)}
        )
