"""The card on the kiosk's reader, as the controllers use it: present? answer a server challenge,
read the serial of a blank card, write the holder record. A thin layer over
:mod:`kiosk_app.devices` (emulated reader in tests and demos, PC/SC on real hardware)."""

from __future__ import annotations

from typing import Any

from kiosk_app.devices import (
    CardInfo,
    CardReader,
    CardTap,
    DeviceError,
    answer_challenge,
    personalise,
    read_card,
)

__all__ = ["CardError", "CardSession", "DeviceError"]


class CardError(Exception):
    """A kiosk-side refusal about the card (e.g. ``card.blank_not_blank``)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class CardSession:
    def __init__(self, reader: CardReader) -> None:
        self.reader = reader

    def present(self) -> bool:
        try:
            return bool(self.reader.card_present())
        except DeviceError:
            return False

    def authenticate(self, challenge: bytes) -> CardTap:
        return answer_challenge(self.reader, challenge)

    def read(self) -> CardInfo:
        return read_card(self.reader)

    def write_holder(self, holder: dict[str, Any]) -> CardInfo:
        return personalise(self.reader, holder)
