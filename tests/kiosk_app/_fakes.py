"""A scripted stand-in for the kiosk's API client and emulated cards, for controller tests."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from kiosk_app.api_client import ApiError, ServerUnreachable
from kiosk_app.devices import EmulatedCard, EmulatedReader

MASTER = b"m" * 32


def card_key(serial: str) -> bytes:
    return hmac.new(MASTER, b"SSC-CARD-KEY/v1" + serial.encode(), hashlib.sha256).digest()


def make_card(serial: str = "A10000001", holder: dict | None = None) -> EmulatedCard:
    return EmulatedCard(serial, card_key(serial), holder=holder)


def reader_with(card: EmulatedCard | None = None) -> EmulatedReader:
    reader = EmulatedReader()
    if card is not None:
        reader.place(card)
    return reader


class FakeApi:
    """Records calls; ``fail[name]`` is an exception raised by that call (a list: one per call);
    ``answers[name]`` the body it returns."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple]] = []
        self.fail: dict[str, Any] = {}
        self.answers: dict[str, Any] = {}
        self.staff_signed_in = False
        self.challenges: dict[str, bytes] = {}

    def _do(self, name: str, *args: Any) -> Any:
        self.calls.append((name, args))
        failure = self.fail.get(name)
        if isinstance(failure, list):
            failure = failure.pop(0) if failure else None
        if failure is not None:
            raise failure
        return self.answers.get(name)

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    # terminal
    def card_challenge(self):
        self._do("card_challenge")
        challenge = secrets.token_bytes(8)
        challenge_id = secrets.token_hex(8)
        self.challenges[challenge_id] = challenge
        return {"challenge_id": challenge_id, "challenge": challenge.hex(), "expires_at": "x"}

    def enter(self, entrance, card):
        return self._do("enter", entrance, card) or {
            "entry_id": 1,
            "decision": "allowed",
            "entrance": {"code": entrance, "name_zh": "广东省博物馆", "name_en": "Museum"},
            "holder": {
                "masked_name": "王*芳",
                "greeting_zh": "王*芳，上午好！欢迎参观。",
                "greeting_en": "Good morning, W*** F***. Welcome.",
            },
            "at": "2026-11-20T02:30:00Z",
        }

    def start_activation(self, card):
        return self._do("start_activation", card) or {
            "activation_id": "a" * 32,
            "masked_name": "李*华",
            "expires_at": "x",
            "tries_left": 3,
        }

    def confirm_identity(self, activation_id, id_last6):
        return self._do("confirm_identity", activation_id, id_last6) or {"identity_ok": True}

    def set_pin(self, activation_id, pin, pin_confirm):
        return self._do("set_pin", activation_id, pin, pin_confirm) or {
            "state": "active",
            "masked_name": "李*华",
        }

    def request_help(self, topic, note=None):
        return self._do("request_help", topic) or {"id": 7, "ticket": "A007", "status": "open"}

    def help_status(self, help_id):
        return self._do("help_status", help_id) or {"id": 7, "ticket": "A007", "status": "open"}

    def cancel_help(self, help_id):
        return self._do("cancel_help", help_id) or {
            "id": help_id,
            "ticket": "A007",
            "status": "cancelled",
        }

    # staff
    def staff_sign_in(self, username, password, totp):
        body = self._do("staff_sign_in", username, password, totp) or {
            "token": "t",
            "user": {"display_name": "广州网点 黄敏", "username": username},
        }
        self.staff_signed_in = True
        return body

    def staff_sign_out(self):
        self._do("staff_sign_out")
        self.staff_signed_in = False

    def find_person(self, id_number):
        return self._do("find_person", id_number)

    def register_person(self, id_number, name, city_code, phone=None):
        return self._do("register_person", id_number, name, city_code, phone)

    def get_person(self, person_id):
        return self._do("get_person", person_id)

    def apply_card(self, person_id, city, bank):
        return self._do("apply_card", person_id, city, bank) or card_out(11, "applied", None)

    def issue_on_site(self, card_id, serial):
        return self._do("issue_on_site", card_id, serial) or card_out(card_id, "issued", serial)

    def activate_card(self, card_id, pin):
        return self._do("activate_card", card_id, pin) or card_out(card_id, "active", "K00000001")

    def report_loss(self, card_id, reason):
        return self._do("report_loss", card_id, reason)

    def replace_card(self, card_id, reason):
        return self._do("replace_card", card_id, reason) or card_out(12, "applied", None)

    def doorstep_requests(self, page=1):
        return self._do("doorstep_requests", page) or {"items": []}


def card_out(card_id: int, state: str, serial: str | None) -> dict:
    return {"id": card_id, "person_id": 5, "serial": serial, "state": state}


def person_out(cards: list[dict] | None = None) -> dict:
    return {
        "id": 5,
        "name": "陈伯",
        "id_number_masked": "4401**********123X",
        "city_code": "440100",
        "cards": cards or [],
    }


def api_error(code: str, status: int = 409, **extra: Any) -> ApiError:
    return ApiError(code, status, extra)


UNREACHABLE = ServerUnreachable("ConnectionError")
