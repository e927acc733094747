"""What the kiosk does with a card: read it, have it answer a server challenge, personalise it.

Each function runs a short APDU exchange on a :class:`~kiosk_app.devices.reader.CardReader` and
raises the device layer's typed errors: :class:`NoCard` (nothing on the reader),
:class:`NotOurCard` (no SSC application), :class:`CardRemoved` (taken away mid-exchange),
:class:`CardFault` (the card refused with status word ``sw``), :class:`AlreadyPersonalised`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from kiosk_app.devices import apdu
from kiosk_app.devices.apdu import SW, CommandAPDU, ResponseAPDU
from kiosk_app.devices.reader import (
    AlreadyPersonalised,
    CardFault,
    CardReader,
    CardRemoved,
    DeviceError,
    NoCard,
    NotOurCard,
    ReaderUnavailable,
)

__all__ = [
    "AlreadyPersonalised",
    "CardFault",
    "CardInfo",
    "CardRemoved",
    "CardTap",
    "DeviceError",
    "NoCard",
    "NotOurCard",
    "ReaderUnavailable",
    "answer_challenge",
    "decode_holder",
    "encode_holder",
    "personalise",
    "read_card",
]

MAX_HOLDER_BYTES = 255  # one short APDU


@dataclass(frozen=True)
class CardInfo:
    """The card's serial and the holder record written at personalisation (``None`` if blank)."""

    serial: str
    holder: dict[str, Any] | None


@dataclass(frozen=True)
class CardTap:
    """The card's answer to a server challenge."""

    serial: str
    counter: int
    mac: bytes

    def as_json(self, challenge_id: str) -> dict[str, Any]:
        """The contract's card-tap object: ``{challenge_id, serial, counter, mac (16 hex)}``."""
        return {
            "challenge_id": challenge_id,
            "serial": self.serial,
            "counter": self.counter,
            "mac": self.mac.hex(),
        }


class _Exchange:
    """One card session: a card missing at first is :class:`NoCard`, later :class:`CardRemoved`."""

    def __init__(self, reader: CardReader) -> None:
        self.reader = reader
        self.started = False

    def send(self, command: CommandAPDU) -> ResponseAPDU:
        try:
            raw = self.reader.transmit(command.to_bytes())
        except NoCard:
            if self.started:
                raise CardRemoved("the card went away during the exchange") from None
            raise
        self.started = True
        try:
            return ResponseAPDU.from_bytes(raw)
        except ValueError:
            raise CardFault(0, "the reader returned fewer than two status bytes") from None

    def ok(self, command: CommandAPDU) -> bytes:
        response = self.send(command)
        if not response.ok:
            raise CardFault(response.sw)
        return response.data

    def select(self) -> None:
        response = self.send(apdu.select_aid())
        if not response.ok:
            raise NotOurCard(response.sw)

    def serial(self) -> str:
        data = self.ok(apdu.read_record(apdu.RECORD_SERIAL))
        try:
            serial = data.decode("ascii")
        except UnicodeDecodeError:
            raise CardFault(SW.OK, "the serial record is not ASCII") from None
        if len(serial) != apdu.SERIAL_LEN or not serial.isalnum():
            raise CardFault(SW.OK, f"the serial record is malformed ({len(data)} bytes)")
        return serial


def read_card(reader: CardReader) -> CardInfo:
    """SELECT, then READ RECORD 1 (serial) and 2 (holder, ``None`` when not yet written)."""
    return _read(_Exchange(reader))


def _read(exchange: _Exchange) -> CardInfo:
    exchange.select()
    serial = exchange.serial()
    response = exchange.send(apdu.read_record(apdu.RECORD_HOLDER))
    if response.sw == SW.RECORD_NOT_FOUND:
        return CardInfo(serial, None)
    if not response.ok:
        raise CardFault(response.sw)
    return CardInfo(serial, decode_holder(response.data))


def answer_challenge(reader: CardReader, challenge: bytes) -> CardTap:
    """SELECT, READ RECORD 1, INTERNAL AUTHENTICATE ``challenge`` (8 bytes, from the server)."""
    if len(challenge) != apdu.CHALLENGE_LEN:
        raise ValueError(f"the challenge must be {apdu.CHALLENGE_LEN} bytes")
    exchange = _Exchange(reader)
    exchange.select()
    serial = exchange.serial()
    data = exchange.ok(apdu.internal_authenticate(challenge))
    if len(data) != apdu.COUNTER_LEN + apdu.MAC_LEN:
        raise CardFault(SW.OK, f"INTERNAL AUTHENTICATE answered {len(data)} bytes, not 12")
    counter = int.from_bytes(data[: apdu.COUNTER_LEN], "big")
    return CardTap(serial, counter, data[apdu.COUNTER_LEN :])


def personalise(reader: CardReader, holder: dict[str, Any]) -> CardInfo:
    """Write the holder record once (UPDATE RECORD 2), then read the card back.

    ``holder`` is small JSON such as ``{"name": "王芳", "city": "440100"}``; raises ``ValueError``
    when it does not fit one APDU, :class:`AlreadyPersonalised` when the card was written before."""
    data = encode_holder(holder)
    exchange = _Exchange(reader)
    exchange.select()
    response = exchange.send(apdu.update_record(apdu.RECORD_HOLDER, data))
    if response.sw == SW.CONDITIONS_NOT_SATISFIED:
        raise AlreadyPersonalised(response.sw)
    if not response.ok:
        raise CardFault(response.sw)
    info = _read(exchange)
    if info.holder != json.loads(data):
        raise CardFault(SW.OK, "the holder record read back differs from what was written")
    return info


def encode_holder(holder: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON of the holder record; ``ValueError`` if not a dict or too long."""
    if not isinstance(holder, dict) or not holder:
        raise ValueError("the holder record is a non-empty JSON object")
    data = json.dumps(holder, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if len(data) > MAX_HOLDER_BYTES:
        raise ValueError(f"the holder record is {len(data)} bytes; at most {MAX_HOLDER_BYTES}")
    return data


def decode_holder(data: bytes) -> dict[str, Any]:
    """The holder record from its bytes; :class:`CardFault` if it is not a JSON object."""
    try:
        holder = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise CardFault(SW.OK, "the holder record is not UTF-8 JSON") from None
    if not isinstance(holder, dict):
        raise CardFault(SW.OK, "the holder record is not a JSON object")
    return holder
