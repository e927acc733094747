"""Card chip authentication (卡片认证): a physical card answers a terminal's challenge with a MAC.

As a SAM (secure access module) would check it: each card's key is diversified from one master
key by the card serial, so the server (or a SAM holding the master key) can check any card while a
card knows only its own key::

    key = HMAC-SHA256(master, "SSC-CARD-KEY/v1" ‖ serial)
    mac = HMAC-SHA256(key, "SSC-CARD-AUTH/v1" ‖ challenge (8 bytes) ‖ counter (u32 BE))[:8]

The terminal picks a fresh random 8-byte challenge for every tap; the card increments its
transaction counter on every answer. The server keeps the highest counter it has seen on the card
(``card.chip_counter``): an online tap whose counter does not grow is a replayed answer or a cloned
card. The master key is ``card_master.key`` in the keys directory (:mod:`server.security.keys`).

The pure part (:func:`diversify`, :func:`card_mac`, :func:`mac_matches`, :class:`ChipCard`) has no
Flask and no database; the kiosk's emulated card and the tests use :class:`ChipCard`.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from server.registry.models import Card

KEY_DOMAIN: Final = b"SSC-CARD-KEY/v1"
AUTH_DOMAIN: Final = b"SSC-CARD-AUTH/v1"
DENY_DOMAIN: Final = b"SSC-CARD-DENY/v1"
DENY_TAG_LEN: Final = 16
CHALLENGE_LEN: Final = 8
MAC_LEN: Final = 8
COUNTER_MAX: Final = 0xFFFF_FFFF


def diversify(master: bytes, serial: str) -> bytes:
    """The card's own 32-byte key, derived from the master key and its serial."""
    return hmac.new(master, KEY_DOMAIN + serial.encode("ascii"), hashlib.sha256).digest()


def card_mac(key: bytes, challenge: bytes, counter: int) -> bytes:
    """The card's 8-byte answer to ``challenge`` at transaction ``counter``."""
    if len(challenge) != CHALLENGE_LEN:
        raise ValueError(f"challenge must be {CHALLENGE_LEN} bytes")
    if not 0 <= counter <= COUNTER_MAX:
        raise ValueError("counter must fit in 32 bits")
    message = AUTH_DOMAIN + challenge + counter.to_bytes(4, "big")
    return hmac.new(key, message, hashlib.sha256).digest()[:MAC_LEN]


@functools.lru_cache(maxsize=65_536)
def _cached_key(master: bytes, serial: str) -> bytes:
    return diversify(master, serial)


def mac_matches(master: bytes, serial: str, challenge: bytes, counter: int, mac: bytes) -> bool:
    """Constant-time check of a card's answer (card keys are cached per master key and serial)."""
    if len(challenge) != CHALLENGE_LEN or len(mac) != MAC_LEN or not 0 <= counter <= COUNTER_MAX:
        return False
    try:
        key = _cached_key(master, serial)
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(card_mac(key, challenge, counter), mac)


def deny_tag(master: bytes, serial: str) -> str:
    """The card's entry on the revocation list (32 hex digits): a MAC of a fixed label under the
    card's own key. The list is public to every terminal, so it never names a serial; only a
    holder of the master key (the server, a gate's SAM) can link a tag to a card — a SAM computes
    the tag of a tapped card and looks it up."""
    tag = hmac.new(_cached_key(master, serial), DENY_DOMAIN, hashlib.sha256).digest()
    return tag[:DENY_TAG_LEN].hex()


def new_challenge() -> bytes:
    """What a terminal sends to the card: 8 fresh random bytes."""
    return secrets.token_bytes(CHALLENGE_LEN)


@dataclass
class ChipCard:
    """A card's chip as the card itself sees it: its diversified key and its counter."""

    serial: str
    key: bytes
    counter: int = 0

    @classmethod
    def issued(cls, master: bytes, serial: str, counter: int = 0) -> ChipCard:
        """The chip personalised at production (its key diversified from the master key)."""
        return cls(serial=serial, key=diversify(master, serial), counter=counter)

    def answer(self, challenge: bytes) -> tuple[int, bytes]:
        """Increment the counter and answer: ``(counter, mac)``."""
        self.counter += 1
        return self.counter, card_mac(self.key, challenge, self.counter)

    def tap(self, challenge: bytes | None = None) -> dict[str, object]:
        """The ``card`` object a terminal sends: ``{serial, challenge, counter, mac}`` (hex)."""
        challenge = challenge if challenge is not None else new_challenge()
        counter, mac = self.answer(challenge)
        return {
            "serial": self.serial,
            "challenge": challenge.hex(),
            "counter": counter,
            "mac": mac.hex(),
        }


# --- server side ---------------------------------------------------------------------------------


def master_key() -> bytes:
    """The card master key of this installation (``<keys dir>/card_master.key``)."""
    from flask import current_app

    return current_app.extensions["ssc.keyring"].card_master


def authenticate_card_tap(
    session: Session,
    *,
    serial: str,
    challenge: bytes,
    counter: int,
    mac: bytes,
    now: datetime,
    master: bytes | None = None,
    require_active: bool = True,
) -> Card:
    """Check a card's answer online and advance its counter, in the caller's transaction.

    Locks the card row, so two taps of one card at once are serialised (the second sees the first's
    counter). Refusals: ``chip.unknown_card``, ``chip.bad_mac``, ``chip.counter_replayed`` (the
    counter did not grow: a replayed answer or a cloned card), ``card.not_active`` (unless
    ``require_active`` is False: the caller checks the state itself, as kiosk activation does).

    The challenge may be the terminal's own (transit) or one the server issued and has already
    consumed (:mod:`server.kiosk.service`, ``POST /terminal/v1/card-challenges``)."""
    from sqlalchemy import select

    from server.errors import DomainError
    from server.registry.models import Card
    from server.registry.rules import CardState

    card = session.execute(
        select(Card).where(Card.serial == serial).with_for_update()
    ).scalar_one_or_none()
    if card is None:
        raise DomainError("chip.unknown_card")
    if not mac_matches(master or master_key(), serial, challenge, counter, mac):
        raise DomainError("chip.bad_mac")
    if counter <= (card.chip_counter or 0):
        raise DomainError("chip.counter_replayed")
    if require_active and card.state != CardState.ACTIVE:
        raise DomainError("card.not_active", state=card.state)
    card.chip_counter = counter
    return card
