"""The reference phone: what an app holding the electronic social security card does.

It signs in with an SMS code, signs the e-card with its own Ed25519 key, keeps a certificate
fresh while online, and makes rotating QR codes **offline** — every code is signed on the phone,
so a gate can check it without a network. It also shows the 8-digit fallback code staff can type.

    phone = PhoneClient("http://127.0.0.1:5000")
    phone.request_sms_code("13800000001")
    phone.sign_in("13800000001", code, id_number="440104195003120311", name="陈伯")
    phone.sign_ecard()
    text = phone.presentation("transit")     # no network needed from here on

Only ``requests``, ``cryptography``, ``pyotp`` and ``qrcode``; nothing from the server package but
the offline codec.
"""

from __future__ import annotations

import base64
import io
import json
import os
import threading
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp
import qrcode
import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from server.credentials.codec import Certificate, Scene, encode, make_presentation

FALLBACK_DIGITS = 8
FALLBACK_INTERVAL_S = 30


class ApiError(Exception):
    """A problem+json answer: ``status``, the stable ``code`` and the whole ``body``."""

    def __init__(self, status: int, code: str, body: dict[str, Any]) -> None:
        super().__init__(f"{status} {code}")
        self.status = status
        self.code = code
        self.body = body


@dataclass
class PhoneState:
    """What the phone keeps between runs (the private key never leaves it)."""

    device_key: str = field(
        default_factory=lambda: base64.b64encode(
            Ed25519PrivateKey.generate().private_bytes_raw()
        ).decode()
    )
    token: str | None = None
    channel_id: int | None = None
    certificate: str | None = None  # base64 certificate bytes
    not_after: str | None = None
    fallback_secret: str | None = None
    card_serial: str | None = None
    counter: int = 0
    clock_offset_s: float = 0.0


class PhoneClient:
    def __init__(
        self,
        base_url: str,
        *,
        state: PhoneState | None = None,
        session: requests.Session | None = None,
        timeout: float = 10.0,
        language: str = "zh-CN",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.state = state or PhoneState()
        self.http = session or requests.Session()
        self.timeout = timeout
        self.language = language
        self._lock = threading.Lock()

    # -- plumbing -------------------------------------------------------------------------

    @property
    def device_key(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(base64.b64decode(self.state.device_key))

    def _call(self, method: str, path: str, json_body: Any = None, **kwargs: Any) -> Any:
        headers = {"Accept-Language": self.language}
        if self.state.token:
            headers["Authorization"] = f"Bearer {self.state.token}"
        response = self.http.request(
            method,
            f"{self.base_url}/mobile/v1{path}",
            json=json_body,
            headers=headers,
            timeout=self.timeout,
            **kwargs,
        )
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {"code": "http.error", "status": response.status_code}
            raise ApiError(response.status_code, body.get("code", "unknown"), body)
        if response.status_code == 204 or not response.content:
            return None
        if response.headers.get("Content-Type", "").startswith("application/json"):
            return response.json()
        return response

    def now(self) -> datetime:
        """The phone's clock corrected by the offset learned from the server."""
        return datetime.now(UTC) + timedelta(seconds=self.state.clock_offset_s)

    def _learn_clock(self, server_time: str) -> None:
        server = datetime.fromisoformat(server_time)
        self.state.clock_offset_s = (server - datetime.now(UTC)).total_seconds()

    # -- sign-in --------------------------------------------------------------------------

    def request_sms_code(self, phone: str) -> dict:
        return self._call("POST", "/auth/sms-code", {"phone": phone})

    def sign_in(
        self, phone: str, code: str, *, id_number: str | None = None, name: str | None = None
    ) -> dict:
        body: dict[str, str] = {"phone": phone, "code": code}
        if id_number:
            body["id_number"] = id_number
        if name:
            body["name"] = name
        result = self._call("POST", "/auth/sign-in", body)
        self.state.token = result["token"]
        return result

    def sign_out(self) -> None:
        self._call("POST", "/auth/sign-out")
        self.state.token = None

    # -- the e-card -------------------------------------------------------------------------

    def sign_ecard(self, app_id: str = "ssc-reference", device_label: str = "参考手机") -> dict:
        public = self.device_key.public_key().public_bytes_raw()
        result = self._call(
            "POST",
            "/ecard",
            {
                "public_key": base64.b64encode(public).decode(),
                "app_id": app_id,
                "device_label": device_label,
            },
        )
        self.state.channel_id = result["channel"]["id"]
        self.state.fallback_secret = result["fallback_secret"]
        self._store_certificate(result["certificate"])
        card = self.my_card()
        self.state.card_serial = card["serial"]
        return result

    def _store_certificate(self, cert: dict) -> None:
        self.state.certificate = cert["certificate"]
        self.state.not_after = cert["not_after"]
        self._learn_clock(cert["server_time"])

    def renew_certificate(self) -> dict:
        cert = self._call("POST", f"/ecard/channels/{self.state.channel_id}/certificate")
        self._store_certificate(cert)
        return cert

    def needs_renewal(self, margin: timedelta = timedelta(days=1)) -> bool:
        if self.state.not_after is None:
            return True
        return datetime.fromisoformat(self.state.not_after) - self.now() < margin

    def presentation(self, scene: str | Scene, now: datetime | None = None) -> str:
        """A fresh QR code, made and signed on the phone with no network."""
        if self.state.certificate is None:
            raise RuntimeError("sign the e-card first")
        cert = Certificate.from_bytes(base64.b64decode(self.state.certificate))
        scene = Scene[scene.upper()] if isinstance(scene, str) else scene
        with self._lock:
            self.state.counter += 1
            counter = self.state.counter
        return encode(make_presentation(cert, self.device_key, scene, now or self.now(), counter))

    def fallback_code(self, now: datetime | None = None) -> str:
        """The 8-digit number shown under the QR code, for staff to type in."""
        totp = pyotp.TOTP(
            self.state.fallback_secret, digits=FALLBACK_DIGITS, interval=FALLBACK_INTERVAL_S
        )
        return totp.at(now or self.now())

    # -- my card and account ---------------------------------------------------------------

    def my_card(self) -> dict:
        return self._call("GET", "/card")

    def account(self, limit: int = 20) -> dict:
        return self._call("GET", "/account", params={"limit": limit})

    def report_loss(self, reason: str | None = None) -> dict:
        return self._call("POST", "/card/report-loss", {"reason": reason} if reason else {})

    def server_code(self, scene: str) -> dict:
        return self._call("POST", "/codes/server", {"scene": scene})

    # -- persistence and display ----------------------------------------------------------------

    def save(self, path: str) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(asdict(self.state), fh)

    @classmethod
    def load(cls, path: str, base_url: str, **kwargs: Any) -> PhoneClient:
        with open(path) as fh:
            return cls(base_url, state=PhoneState(**json.load(fh)), **kwargs)


def ascii_qr(text: str) -> str:
    """The code as text for a terminal (one alphanumeric segment, level M)."""
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=2)
    qr.add_data(text, optimize=0)
    qr.make(fit=True)
    out = io.StringIO()
    qr.print_ascii(out=out, invert=True)
    return out.getvalue()
