"""An emulated card (the card's firmware, in Python), an emulated reader and the demo card store.

:class:`EmulatedCard` answers the same APDUs a real SSC card answers (see
:mod:`kiosk_app.devices.apdu`). It holds only its own diversified key, never the master key::

    mac = HMAC-SHA256(key, b"SSC-CARD-AUTH/v1" ‖ challenge ‖ counter_u32_be)[:8]

The counter is incremented, and handed to ``on_counter`` (the store persists it), *before* the
answer leaves the card, so a restarted kiosk never sends a counter it has sent before.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import os
import secrets
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from kiosk_app.devices import apdu
from kiosk_app.devices.apdu import SW, CommandAPDU, Ins, MalformedAPDU, ResponseAPDU
from kiosk_app.devices.reader import CardReader, NoCard, ReaderUnavailable

log = logging.getLogger(__name__)

AUTH_DOMAIN: Final = b"SSC-CARD-AUTH/v1"
KEY_LEN: Final = 32
COUNTER_MAX: Final = 0xFFFF_FFFF
RECORD_SFIS: Final = frozenset({apdu.READ_SFI})  # the one record EF (serial, holder)


def card_mac(key: bytes, challenge: bytes, counter: int) -> bytes:
    """The card's 8-byte MAC over ``challenge`` at transaction ``counter``."""
    message = AUTH_DOMAIN + challenge + counter.to_bytes(apdu.COUNTER_LEN, "big")
    return hmac.new(key, message, hashlib.sha256).digest()[: apdu.MAC_LEN]


class EmulatedCard:
    """An SSC card: serial, diversified key, transaction counter, holder record (record 2)."""

    def __init__(
        self,
        serial: str,
        key: bytes,
        counter: int = 0,
        holder: bytes | dict[str, Any] | None = None,
        *,
        on_counter: Callable[[EmulatedCard], None] | None = None,
        on_personalised: Callable[[EmulatedCard], None] | None = None,
        random_bytes: Callable[[int], bytes] = secrets.token_bytes,
    ) -> None:
        if len(serial) != apdu.SERIAL_LEN or not serial.isascii() or not serial.isalnum():
            raise ValueError(f"a card serial is {apdu.SERIAL_LEN} ASCII letters and digits")
        if len(key) != KEY_LEN:
            raise ValueError(f"a card key is {KEY_LEN} bytes")
        if not 0 <= counter <= COUNTER_MAX:
            raise ValueError("the counter must fit in 32 bits")
        if isinstance(holder, dict):
            holder = json.dumps(holder, ensure_ascii=False, separators=(",", ":")).encode()
        self.serial = serial
        self.key = bytes(key)
        self.counter = counter
        self.holder_record: bytes | None = holder
        self.on_counter = on_counter
        self.on_personalised = on_personalised
        self._random = random_bytes
        self._selected = False

    @property
    def personalised(self) -> bool:
        return self.holder_record is not None

    @property
    def holder(self) -> dict[str, Any] | None:
        return None if self.holder_record is None else json.loads(self.holder_record)

    def reset(self) -> None:
        """Power-on reset (card placed on a reader): no application selected."""
        self._selected = False

    def clone(self, counter: int | None = None) -> EmulatedCard:
        """A copy of this card's chip (same serial, key and holder) at ``counter`` (default: now).

        Tests use it as a cloned card: once the original has tapped again, the clone's counter is
        behind and the server refuses it. The clone does not persist anything."""
        return EmulatedCard(
            self.serial,
            self.key,
            self.counter if counter is None else counter,
            self.holder_record,
        )

    # --- the card's firmware ---------------------------------------------------------------------

    def process(self, raw: bytes) -> bytes:
        """One command APDU in, response data + SW1 SW2 out."""
        return self.respond(raw).to_bytes()

    def respond(self, raw: bytes) -> ResponseAPDU:
        try:
            command = CommandAPDU.parse(raw)
        except MalformedAPDU:
            return _sw(SW.WRONG_LENGTH)
        if command.cla != 0x00:
            return _sw(SW.CLA_NOT_SUPPORTED)
        handler = self._handlers.get(command.ins)
        if handler is None:
            return _sw(SW.INS_NOT_SUPPORTED)
        if command.ins != Ins.SELECT and not self._selected:
            return _sw(SW.SECURITY_NOT_SATISFIED)
        return handler(self, command)

    def _select(self, command: CommandAPDU) -> ResponseAPDU:
        if (command.p1, command.p2) != (0x04, 0x00):
            return _sw(SW.WRONG_P1P2)
        if command.data != apdu.SSC_AID:
            self._selected = False
            return _sw(SW.FILE_NOT_FOUND)
        self._selected = True
        dfname = bytes([0x84, len(apdu.SSC_AID)]) + apdu.SSC_AID
        return ResponseAPDU.status(SW.OK, bytes([0x6F, len(dfname)]) + dfname)

    def _read_record(self, command: CommandAPDU) -> ResponseAPDU:
        if command.data:
            return _sw(SW.WRONG_LENGTH)
        problem = _record_address_problem(command.p2)
        if problem is not None:
            return _sw(problem)
        if command.p1 == apdu.RECORD_SERIAL:
            record = self.serial.encode("ascii")
        elif command.p1 == apdu.RECORD_HOLDER and self.holder_record is not None:
            record = self.holder_record
        else:
            return _sw(SW.RECORD_NOT_FOUND)
        if command.le is not None and command.le < len(record):
            return _sw(0x6C00 | len(record))
        return ResponseAPDU.status(SW.OK, record)

    def _get_challenge(self, command: CommandAPDU) -> ResponseAPDU:
        if (command.p1, command.p2) != (0x00, 0x00):
            return _sw(SW.WRONG_P1P2)
        if command.data or command.le != apdu.CHALLENGE_LEN:
            return _sw(SW.WRONG_LENGTH)
        return ResponseAPDU.status(SW.OK, self._random(apdu.CHALLENGE_LEN))

    def _internal_authenticate(self, command: CommandAPDU) -> ResponseAPDU:
        if (command.p1, command.p2) != (0x00, 0x00):
            return _sw(SW.WRONG_P1P2)
        if len(command.data) != apdu.CHALLENGE_LEN:
            return _sw(SW.WRONG_LENGTH)
        answer_len = apdu.COUNTER_LEN + apdu.MAC_LEN
        if command.le is not None and command.le not in (answer_len, 256):
            return _sw(SW.WRONG_LENGTH)
        if self.counter >= COUNTER_MAX:
            return _sw(SW.CONDITIONS_NOT_SATISFIED)  # the card is worn out
        self.counter += 1
        if self.on_counter is not None:
            self.on_counter(self)  # persisted before the answer leaves the card
        mac = card_mac(self.key, command.data, self.counter)
        return ResponseAPDU.status(SW.OK, self.counter.to_bytes(apdu.COUNTER_LEN, "big") + mac)

    def _update_record(self, command: CommandAPDU) -> ResponseAPDU:
        problem = _record_address_problem(command.p2)
        if problem is not None:
            return _sw(problem)
        if not command.data or command.le is not None:
            return _sw(SW.WRONG_LENGTH)
        if command.p1 == apdu.RECORD_SERIAL:
            return _sw(SW.CONDITIONS_NOT_SATISFIED)  # written at production, never again
        if command.p1 != apdu.RECORD_HOLDER:
            return _sw(SW.RECORD_NOT_FOUND)
        if self.holder_record is not None:
            return _sw(SW.CONDITIONS_NOT_SATISFIED)
        try:
            holder = json.loads(command.data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return _sw(SW.WRONG_DATA)
        if not isinstance(holder, dict):
            return _sw(SW.WRONG_DATA)
        self.holder_record = bytes(command.data)
        if self.on_personalised is not None:
            self.on_personalised(self)
        return _sw(SW.OK)

    _handlers: Final[dict[int, Callable[[EmulatedCard, CommandAPDU], ResponseAPDU]]] = {
        Ins.SELECT: _select,
        Ins.READ_RECORD: _read_record,
        Ins.GET_CHALLENGE: _get_challenge,
        Ins.INTERNAL_AUTHENTICATE: _internal_authenticate,
        Ins.UPDATE_RECORD: _update_record,
    }

    def __repr__(self) -> str:  # never the key
        return f"EmulatedCard(serial={self.serial!r}, counter={self.counter})"


def _sw(sw: int) -> ResponseAPDU:
    return ResponseAPDU.status(sw)


def _record_address_problem(p2: int) -> int | None:
    if p2 & 0x07 != apdu.P2_RECORD_IN_P1:
        return SW.WRONG_P1P2
    if p2 >> 3 not in RECORD_SFIS:
        return SW.FILE_NOT_FOUND
    return None


class EmulatedReader(CardReader):
    """A reader on which tests and the demo side panel place and remove emulated cards."""

    def __init__(self) -> None:
        self._card: EmulatedCard | None = None
        self._changed = threading.Condition()

    @property
    def card(self) -> EmulatedCard | None:
        return self._card

    def place(self, card: EmulatedCard) -> None:
        with self._changed:
            card.reset()
            self._card = card
            self._changed.notify_all()

    def remove(self) -> None:
        with self._changed:
            self._card = None
            self._changed.notify_all()

    def card_present(self) -> bool:
        return self._card is not None

    def wait_for_card(self, timeout_s: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self._card is not None, timeout=timeout_s)

    def transmit(self, apdu: bytes) -> bytes:
        card = self._card
        if card is None:
            raise NoCard("no card on the emulated reader")
        try:
            return card.process(apdu)
        except OSError as exc:  # the counter could not be persisted: the card must not answer
            log.error("emulated card %s could not save its state: %s", card.serial, exc)
            raise ReaderUnavailable("the emulated card's state file cannot be written") from exc

    def disconnect(self) -> None:
        card = self._card
        if card is not None:
            card.reset()


# --- demo cards ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoCardEntry:
    """One card of the demo side panel."""

    serial: str
    label_zh: str
    label_en: str
    story: str  # active | issued | suspended | … | blank
    blank: bool = False


class DemoCardStore:
    """The demo cards of ``demo_cards.json`` (written by ``flask seed demo``) as emulated cards.

    Each card's counter and holder record are kept in a JSON state file (``state_path``) written
    atomically whenever they change, so a restarted kiosk continues where it stopped."""

    def __init__(
        self,
        entries: list[DemoCardEntry],
        keys: dict[str, bytes],
        state_path: str | os.PathLike[str],
        *,
        message: str | None = None,
        holders: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.entries = entries
        self.message = message
        self._keys = keys
        self._holders = holders or {}
        self._state_path = Path(state_path)
        self._lock = threading.Lock()
        self._state = self._read_state()
        self._cards: dict[str, EmulatedCard] = {}

    @classmethod
    def load(
        cls, cards_path: str | os.PathLike[str], state_path: str | os.PathLike[str]
    ) -> DemoCardStore:
        """Read ``demo_cards.json``; a missing or unreadable file gives an empty store whose
        ``message`` says why (zh, then en)."""
        path = Path(cards_path)
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls(
                [],
                {},
                state_path,
                message=(
                    f"没有演示卡：找不到 {path.name}，请先运行 flask seed demo。"
                    f" / No demo cards: {path.name} not found; run `flask seed demo` first."
                ),
            )
        except (OSError, ValueError) as exc:
            return cls([], {}, state_path, message=_invalid(path, f"unreadable ({exc})"))
        try:
            entries, keys, holders = _parse_demo_cards(document)
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("demo cards file is invalid: %s", exc)
            return cls([], {}, state_path, message=_invalid(path, str(exc)))
        return cls(entries, keys, state_path, holders=holders)

    def __len__(self) -> int:
        return len(self.entries)

    def serials(self) -> list[str]:
        return [entry.serial for entry in self.entries]

    def card(self, serial: str) -> EmulatedCard:
        """The one emulated card with this serial (its counter continues from the state file)."""
        with self._lock:
            card = self._cards.get(serial)
            if card is None:
                key = self._keys.get(serial)
                if key is None:
                    raise KeyError(serial)
                state = self._state.get(serial, {})
                holder = state.get("holder", self._holders.get(serial))
                card = EmulatedCard(
                    serial,
                    key,
                    int(state.get("counter", 0)),
                    holder,
                    on_counter=self._save,
                    on_personalised=self._save,
                )
                self._cards[serial] = card
            return card

    def _read_state(self) -> dict[str, dict[str, Any]]:
        try:
            document = json.loads(self._state_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            # Starting from 0 would replay old counters: refuse rather than silently reset.
            raise RuntimeError(f"the card state file {self._state_path} is unreadable") from exc
        cards = document.get("cards", {})
        if not isinstance(cards, dict):
            raise RuntimeError(f"the card state file {self._state_path} is malformed")
        return cards

    def _save(self, card: EmulatedCard) -> None:
        with self._lock:
            entry = self._state.setdefault(card.serial, {})
            entry["counter"] = max(card.counter, int(entry.get("counter", 0)))
            if card.holder_record is not None:
                entry["holder"] = card.holder
            document = {"version": 1, "cards": self._state}
            _atomic_write_json(self._state_path, document)


def _invalid(path: Path, why: str) -> str:
    return (
        f"演示卡文件 {path.name} 有误：{why}。 / The demo cards file {path.name} is invalid: {why}."
    )


def _parse_demo_cards(
    document: Any,
) -> tuple[list[DemoCardEntry], dict[str, bytes], dict[str, dict[str, Any]]]:
    if not isinstance(document, dict) or document.get("version") != 1:
        raise ValueError("expected {'version': 1, ...}")
    entries: list[DemoCardEntry] = []
    keys: dict[str, bytes] = {}
    holders: dict[str, dict[str, Any]] = {}

    def add_key(serial: str, key_hex: str) -> None:
        key = bytes.fromhex(key_hex)
        if len(key) != KEY_LEN:
            raise ValueError(f"the key of {serial} is not {KEY_LEN} bytes")
        if serial in keys:
            raise ValueError(f"{serial} is listed twice")
        keys[serial] = key

    for item in document.get("cards", []):
        serial = str(item["serial"])
        add_key(serial, item["key"])
        entries.append(
            DemoCardEntry(serial, item["label_zh"], item["label_en"], item.get("story", ""))
        )
        if isinstance(item.get("holder"), dict):
            holders[serial] = item["holder"]
    for item in document.get("blank_stock", []):
        serial = str(item["serial"])
        add_key(serial, item["key"])
        entries.append(
            DemoCardEntry(
                serial,
                item.get("label_zh", f"空白卡 {serial}"),
                item.get("label_en", f"Blank card {serial}"),
                "blank",
                blank=True,
            )
        )
    return entries, keys, holders


def _atomic_write_json(path: Path, document: Any) -> None:
    """Write ``document`` to ``path`` through a temporary file and ``os.replace`` (mode 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(document, handle, ensure_ascii=False, indent=1, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
