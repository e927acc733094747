"""The card reader interface and the errors of the device layer.

A :class:`CardReader` moves raw APDU bytes to a card and back; it knows nothing of the card
application (that is :mod:`kiosk_app.devices.card_session`). Implementations: the emulated reader
(:mod:`kiosk_app.devices.emulated`) and a PC/SC reader (:mod:`kiosk_app.devices.pcsc`).

Every error has a stable ``code`` for the screens and plain words in Chinese and English
(``zh`` / ``en``) that a screen may show as they are.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from kiosk_app.devices.apdu import CardError


class DeviceError(Exception):
    """Base of the device layer's errors."""

    code = "device.error"
    zh = "读卡出现问题，请重新放卡或呼叫工作人员。"
    en = "Something went wrong reading the card. Place it again or call staff."


class ReaderUnavailable(DeviceError):
    """No reader: pyscard is missing, the PC/SC service is down, or the reader is unplugged."""

    code = "device.reader_unavailable"
    zh = "读卡器暂时不能使用，请呼叫工作人员。"
    en = "The card reader is not working. Please call staff."


class NoCard(DeviceError):
    """No card is on the reader."""

    code = "device.no_card"
    zh = "没有检测到卡片，请把社保卡平放在读卡区。"
    en = "No card found. Please lay your card flat on the reader."


class CardRemoved(DeviceError):
    """The card was taken away in the middle of an exchange."""

    code = "device.card_removed"
    zh = "卡片拿开得太早了，请重新放好，听到提示再拿开。"
    en = "The card was taken away too soon. Place it again and wait for the signal."


class NotOurCard(DeviceError):
    """A card is present, but it has no social security card application (SELECT failed)."""

    code = "device.not_our_card"
    zh = "这张卡不是社保卡，请换用您的社会保障卡。"
    en = "This is not a social security card. Please use your social security card."

    def __init__(self, sw: int | None = None) -> None:
        self.sw = sw
        super().__init__(f"SELECT of the SSC application failed ({sw:04X})" if sw else "not ours")


class CardFault(DeviceError, CardError):
    """The card refused a command of ours (status word ``sw``) or answered nonsense."""

    code = "device.card_fault"
    zh = "卡片无法读取，请呼叫工作人员检查卡片。"
    en = "The card cannot be read. Please call staff to check it."

    def __init__(self, sw: int, message: str | None = None) -> None:
        CardError.__init__(self, sw, message)


class AlreadyPersonalised(CardFault):
    """UPDATE RECORD refused with 6985: the holder record was written before."""

    code = "device.already_personalised"
    zh = "这张卡已经写入过持卡人信息，请换一张空白卡。"
    en = "This card already holds a cardholder's data. Please use a blank card."


class CardReader(ABC):
    """Exchanges APDUs with one card on one reader."""

    @abstractmethod
    def card_present(self) -> bool:
        """Whether a card is on the reader now (never raises for a missing card)."""

    @abstractmethod
    def wait_for_card(self, timeout_s: float) -> bool:
        """Block until a card is present or ``timeout_s`` has passed; ``True`` if one is."""

    @abstractmethod
    def transmit(self, apdu: bytes) -> bytes:
        """Send one command APDU; return the response data followed by SW1 SW2.

        Raises :class:`NoCard` when no card is present, :class:`CardRemoved` when the card went
        away during the exchange, :class:`ReaderUnavailable` when the reader itself fails."""

    @abstractmethod
    def disconnect(self) -> None:
        """Drop the connection to the card (the next transmit reconnects). Never raises."""
