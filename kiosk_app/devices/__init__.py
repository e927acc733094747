"""The kiosk's devices: card readers (emulated and PC/SC), the card session, the speaker.

No Kivy here: screens and controllers use these through plain calls. pyscard is imported only by
:class:`kiosk_app.devices.pcsc.PcscReader` when it is used.
"""

from kiosk_app.devices.card_session import (
    CardInfo,
    CardTap,
    answer_challenge,
    personalise,
    read_card,
)
from kiosk_app.devices.emulated import DemoCardEntry, DemoCardStore, EmulatedCard, EmulatedReader
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
from kiosk_app.devices.speaker import EspeakSpeaker, SilentSpeaker, Speaker, default_speaker

__all__ = [
    "AlreadyPersonalised",
    "CardFault",
    "CardInfo",
    "CardReader",
    "CardRemoved",
    "CardTap",
    "DemoCardEntry",
    "DemoCardStore",
    "DeviceError",
    "EmulatedCard",
    "EmulatedReader",
    "EspeakSpeaker",
    "NoCard",
    "NotOurCard",
    "ReaderUnavailable",
    "SilentSpeaker",
    "Speaker",
    "answer_challenge",
    "default_speaker",
    "personalise",
    "read_card",
]
