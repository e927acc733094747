"""E-card use cases: issuer keys, signing the e-card on a phone, certificates, revocation lists,
server-signed codes, fallback codes, and online verification that records each use once.

The offline library (``codec``, ``verifier``) does the cryptography; this module feeds it from the
database and keeps the replay record (unique (serial, counter)) that every online terminal shares.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pyotp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from flask import current_app
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from server.clock import local_date
from server.credentials import rules
from server.credentials.codec import (
    Scene,
    ServerCodeSigner,
    sign_certificate,
)
from server.credentials.keys import IssuerKeyStore
from server.credentials.models import (
    CardPseudonym,
    CredentialUse,
    EcardCertificate,
    EcardChannel,
    IssuerKey,
    RevocationEvent,
)
from server.credentials.verifier import (
    Accepted,
    Refused,
    RevocationList,
    TrustedKey,
    TrustList,
    Verifier,
)
from server.errors import DomainError
from server.registry.models import Card, Person
from server.registry.rules import CardState
from server.security import audit
from server.security.pii import cipher
from server.security.rules import Actor

F_FALLBACK = "ecard.fallback_secret"
ACTIVE, RETIRED, REVOKED = "active", "retired", "revoked"
# Deny reasons on the revocation list, by the card state that put the card there.
DENY_REASON = {
    CardState.SUSPENDED: "lost",
    CardState.SEALED: "sealed",
    CardState.REPLACED: "replaced",
    CardState.CANCELLED: "cancelled",
}


def _cfg(name: str):
    return current_app.config[name]


def key_store() -> IssuerKeyStore:
    return current_app.extensions["ssc.issuer_keys"]


def _random_serial() -> int:
    return secrets.randbits(63) or 1


# --- issuer keys -----------------------------------------------------------------------------


def _new_kid(session: Session) -> int:
    """A key id used neither in the database nor by a key file (a file outlives a database
    that was restored or emptied, and a kid must never name two keys)."""
    used = set(session.execute(select(IssuerKey.kid)).scalars())
    store = key_store()
    while True:
        kid = secrets.randbelow(0xFFFF) + 1
        if kid not in used and not store.has(kid):
            return kid


def _retire_grace() -> timedelta:
    """How long a retired key stays trusted: until everything it signed has expired."""
    return timedelta(days=_cfg("SSC_CERT_VALIDITY_DAYS")) + timedelta(minutes=10)


def rotate_issuer_key(session: Session, actor: Actor | None, now: datetime) -> IssuerKey:
    """Make a new active key; the old one signs no more but stays trusted until its certificates
    have expired."""
    for old in session.execute(
        select(IssuerKey).where(IssuerKey.status == ACTIVE).with_for_update()
    ).scalars():
        old.status = RETIRED
        old.retired_at = now
        old.trusted_until = min(old.trusted_until, now + _retire_grace())
    kid = _new_kid(session)
    private = key_store().create(kid)
    key = IssuerKey(
        kid=kid,
        public_key=private.public_key().public_bytes_raw(),
        status=ACTIVE,
        created_at=now,
        trusted_until=now + timedelta(days=_cfg("SSC_ISSUER_KEY_LIFETIME_DAYS")),
    )
    session.add(key)
    session.flush()
    audit.record(
        session, actor, "issuer_key.rotated", object_type="issuer_key", object_id=kid, now=now
    )
    session.commit()
    return key


def revoke_issuer_key(session: Session, actor: Actor | None, kid: int, now: datetime) -> IssuerKey:
    """Distrust a key at once (compromise): codes it signed stop verifying everywhere."""
    key = session.get(IssuerKey, kid, with_for_update=True)
    if key is None:
        raise DomainError("issuer.key_not_found")
    key.status = REVOKED
    key.revoked_at = now
    key_store().destroy(kid)
    audit.record(
        session, actor, "issuer_key.revoked", object_type="issuer_key", object_id=kid, now=now
    )
    session.commit()
    return key


def active_issuer_key(session: Session, now: datetime) -> IssuerKey:
    key = (
        session.execute(
            select(IssuerKey)
            .where(IssuerKey.status == ACTIVE)
            .order_by(IssuerKey.created_at.desc())
        )
        .scalars()
        .first()
    )
    if key is None or key.trusted_until <= now + _retire_grace():
        key = rotate_issuer_key(session, None, now)
    return key


# --- pseudonyms and channels -----------------------------------------------------------------


def card_pseudonym(session: Session, card_id: int, now: datetime) -> bytes:
    row = session.get(CardPseudonym, card_id)
    if row is None:
        row = CardPseudonym(card_id=card_id, pseudonym=secrets.token_bytes(10), created_at=now)
        session.add(row)
        session.flush()
    return row.pseudonym


def holder_card(session: Session, person_id: int, *, lock: bool = False) -> Card:
    """The person's card in a usable state (there is at most one), or ``ecard.no_card``."""
    from server.registry.rules import USABLE_STATES

    stmt = select(Card).where(Card.person_id == person_id, Card.state.in_(USABLE_STATES))
    if lock:
        stmt = stmt.with_for_update()
    card = session.execute(stmt).scalar_one_or_none()
    if card is None:
        raise DomainError("ecard.no_card")
    return card


def _require_active(card: Card) -> None:
    if CardState(card.state) is not CardState.ACTIVE:
        raise DomainError("card.not_active", state=card.state)


def _public_key(raw: bytes) -> bytes:
    try:
        Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise DomainError("ecard.invalid_public_key") from None
    return raw


@dataclass(frozen=True)
class IssuedCertificate:
    row: EcardCertificate
    encoded: bytes  # Certificate.to_bytes(): what the phone embeds in every presentation


@dataclass(frozen=True)
class SignedEcard:
    channel: EcardChannel
    fallback_secret: str  # shown once to the phone
    certificate: IssuedCertificate


def sign_ecard(
    session: Session,
    actor: Actor,
    person_id: int,
    *,
    public_key: bytes,
    app_id: str,
    device_label: str,
    now: datetime,
) -> SignedEcard:
    """Sign the e-card (电子社保卡签发) in an app: register the phone's public key as a channel and
    issue its first certificate. At most three active channels; signing again from the same app
    replaces that app's old channel."""
    card = holder_card(session, person_id, lock=True)
    _require_active(card)
    raw = _public_key(public_key)
    channels = (
        session.execute(
            select(EcardChannel).where(
                EcardChannel.card_id == card.id, EcardChannel.status == ACTIVE
            )
        )
        .scalars()
        .all()
    )
    same_app = [c for c in channels if c.app_id == app_id]
    if len(channels) - len(same_app) >= rules.MAX_ACTIVE_CHANNELS:
        raise DomainError("ecard.too_many_channels", limit=rules.MAX_ACTIVE_CHANNELS)
    for old in same_app:
        _revoke_channel(session, actor, old, "replaced", now)
    secret = _new_fallback_secret()
    channel = EcardChannel(
        card_id=card.id,
        person_id=person_id,
        app_id=app_id,
        device_label=device_label,
        public_key=raw,
        fallback_secret_enc=cipher().encrypt(F_FALLBACK, secret),
        fallback_serial=_random_serial(),
        status=ACTIVE,
        created_at=now,
    )
    session.add(channel)
    session.flush()
    audit.record(
        session,
        actor,
        "ecard.signed",
        object_type="card",
        object_id=card.id,
        city_code=card.issuing_city,
        now=now,
        channel_id=channel.id,
        app_id=app_id,
    )
    issued = _issue_certificate(session, card, channel, now)
    session.commit()
    return SignedEcard(channel=channel, fallback_secret=secret, certificate=issued)


def _new_fallback_secret() -> str:
    return pyotp.random_base32()


def list_channels(session: Session, card_id: int) -> list[EcardChannel]:
    return list(
        session.execute(
            select(EcardChannel).where(EcardChannel.card_id == card_id).order_by(EcardChannel.id)
        ).scalars()
    )


def _revoke_channel(
    session: Session, actor: Actor | None, channel: EcardChannel, reason: str, now: datetime
) -> None:
    channel.status = REVOKED
    channel.revoked_at = now
    channel.revoke_reason = reason
    session.flush()
    _revoke_certificates(session, EcardCertificate.channel_id == channel.id, reason, now)
    audit.record(
        session,
        actor,
        "ecard.channel_revoked",
        object_type="ecard_channel",
        object_id=channel.id,
        now=now,
        card_id=channel.card_id,
        reason=reason,
    )


def revoke_channel(
    session: Session,
    actor: Actor,
    channel_id: int,
    reason: str,
    now: datetime,
    *,
    person_id: int | None = None,
    card_id: int | None = None,
) -> EcardChannel:
    """Revoke a channel (holder: ``person_id``; staff: ``card_id`` after their scope check)."""
    channel = session.get(EcardChannel, channel_id, with_for_update=True)
    if channel is None or (person_id is not None and channel.person_id != person_id):
        raise DomainError("ecard.channel_not_found")
    if card_id is not None and channel.card_id != card_id:
        raise DomainError("ecard.channel_not_found")
    if channel.status != ACTIVE:
        raise DomainError("ecard.channel_revoked")
    _revoke_channel(session, actor, channel, reason, now)
    session.commit()
    return channel


# --- certificates ----------------------------------------------------------------------------


def _issue_certificate(
    session: Session, card: Card, channel: EcardChannel, now: datetime
) -> IssuedCertificate:
    person = session.get(Person, card.person_id)
    today = local_date(now)
    categories = rules.categories_on(person.birth_date, person.disability_level, today)
    validity = timedelta(days=_cfg("SSC_CERT_VALIDITY_DAYS"))
    not_before, not_after = rules.certificate_window(now, validity, person.birth_date, today)
    key = active_issuer_key(session, now)
    serial = _random_serial()
    cap = _cfg("SSC_ECARD_PER_USE_CAP_FEN")
    certificate = sign_certificate(
        kid=key.kid,
        serial=serial,
        pseudonym=card_pseudonym(session, card.id, now),
        categories=categories,
        home_city=int(person.city_code),
        per_use_cap_fen=cap,
        not_before=not_before,
        not_after=not_after,
        device_public_key=channel.public_key,
        issuer_private_key=key_store().private_key(key.kid),
    )
    row = EcardCertificate(
        serial=serial,
        channel_id=channel.id,
        card_id=card.id,
        kid=key.kid,
        categories=int(categories),
        home_city=person.city_code,
        per_use_cap_fen=cap,
        not_before=not_before,
        not_after=not_after,
        issued_at=now,
    )
    session.add(row)
    session.flush()
    return IssuedCertificate(row=row, encoded=certificate.to_bytes())


def renew_certificate(
    session: Session, actor: Actor, person_id: int, channel_id: int, now: datetime
) -> IssuedCertificate:
    """A fresh certificate for an active channel of an active card (renewed when online)."""
    channel = session.get(EcardChannel, channel_id)
    if channel is None or channel.person_id != person_id:
        raise DomainError("ecard.channel_not_found")
    if channel.status != ACTIVE:
        raise DomainError("ecard.channel_revoked")
    card = session.get(Card, channel.card_id, with_for_update=True)
    _require_active(card)
    issued = _issue_certificate(session, card, channel, now)
    session.commit()
    return issued


# --- revocation --------------------------------------------------------------------------------


def _log(session: Session, op: str, kind: str, value: str, reason: str, expires, now) -> None:
    session.add(
        RevocationEvent(
            op=op, kind=kind, value=value, reason=reason, expires_at=expires, created_at=now
        )
    )


def _revoke_certificates(session: Session, where, reason: str, now: datetime) -> int:
    rows = (
        session.execute(
            select(EcardCertificate).where(
                where, EcardCertificate.revoked_at.is_(None), EcardCertificate.not_after > now
            )
        )
        .scalars()
        .all()
    )
    for cert in rows:
        cert.revoked_at = now
        cert.revoke_reason = reason
        # Listed only while the certificate could still verify.
        _log(session, "add", "serial", str(cert.serial), reason, cert.not_after, now)
    session.flush()
    return len(rows)


def on_card_state_changed(
    session: Session, card: Card, before: CardState, after: CardState, now: datetime
) -> None:
    """Keep credentials in step with the card (called inside the registry's transaction).

    Lost or sealed: every certificate is revoked and the pseudonym listed until the card is usable
    again. Replaced or cancelled: channels close too, and the pseudonym stays listed until every
    certificate and server code it could appear in has expired."""
    if after in (CardState.SUSPENDED, CardState.SEALED, CardState.REPLACED, CardState.CANCELLED):
        reason = DENY_REASON[after]
        _revoke_certificates(session, EcardCertificate.card_id == card.id, reason, now)
        final = after in (CardState.REPLACED, CardState.CANCELLED)
        if final:
            session.execute(
                update(EcardChannel)
                .where(EcardChannel.card_id == card.id, EcardChannel.status == ACTIVE)
                .values(status=REVOKED, revoked_at=now, revoke_reason=reason)
            )
        row = session.get(CardPseudonym, card.id)
        if row is not None:
            expires = now + _retire_grace() if final else None
            _log(session, "add", "pseudonym", row.pseudonym.hex(), reason, expires, now)
    elif after is CardState.ACTIVE and before in (CardState.SUSPENDED, CardState.SEALED):
        row = session.get(CardPseudonym, card.id)
        if row is not None:
            held = _held_reason(session, card.id)
            if held is not None:  # e.g. transit debt: stays listed, now for that reason
                _log(session, "add", "pseudonym", row.pseudonym.hex(), held, None, now)
            else:
                _log(session, "remove", "pseudonym", row.pseudonym.hex(), "restored", None, now)


# --- listings held by other domains (transit debt) --------------------------------------------
# A hold is ``check(session, card_id) -> reason | None``. Other domains list a card's pseudonym
# with :func:`deny_pseudonym` and lift it with :func:`allow_pseudonym`; the hold tells
# ``on_card_state_changed`` to keep the card listed when a lost or sealed card is restored, and
# :func:`on_card_replaced` to list a replacement card from the start (a hold is the holder's, not
# the plastic's: transit debt follows the person to their new card).
_PSEUDONYM_HOLDS: dict[str, Callable[[Session, int], str | None]] = {}


def register_pseudonym_hold(name: str, check: Callable[[Session, int], str | None]) -> None:
    _PSEUDONYM_HOLDS[name] = check


def _held_reason(session: Session, card_id: int) -> str | None:
    for _, check in sorted(_PSEUDONYM_HOLDS.items()):
        reason = check(session, card_id)
        if reason:
            return reason
    return None


def on_card_replaced(
    session: Session, actor: Actor, old: Card, new: Card, now: datetime
) -> str | None:
    """A replacement card inherits its holder's holds (called inside the registry's replacement
    transaction, once the new card has its id): while one applies (e.g. transit debt over the
    limit) the new card's pseudonym is listed for it from the start. The old card keeps its own
    listing (replaced). Returns the reason listed, or None."""
    held = _held_reason(session, new.id)
    if held is None or not deny_pseudonym(session, new.id, held, now):
        return None
    audit.record(
        session,
        actor,
        "ecard.listing_carried",
        object_type="card",
        object_id=new.id,
        city_code=new.issuing_city,
        now=now,
        reason=held,
        replaces=old.id,
    )
    return held


def on_card_serial_assigned(session: Session, card: Card, now: datetime) -> None:
    """A card listed before it had a serial (a replacement listed for its holder's debt while at
    the factory) gets one: the listing is logged again, so a delta carries the card's deny tag
    (``add.cards``) and a gate that only fetches deltas refuses the new plastic too. Called inside
    the registry's transaction."""
    last = _active_listing(session, card.id, now)
    if last is None:
        return
    _log(session, "add", "pseudonym", last.value, last.reason, last.expires_at, now)
    session.flush()


def pseudonym_listing(session: Session, card_id: int, now: datetime) -> str | None:
    """Why the card's pseudonym is on the revocation list now (its latest event), or None."""
    last = _active_listing(session, card_id, now)
    return None if last is None else last.reason


def _active_listing(session: Session, card_id: int, now: datetime) -> RevocationEvent | None:
    """The latest revocation event of the card's pseudonym when it lists the card now (an add
    not yet expired); None when the card has no pseudonym or is not listed."""
    row = session.get(CardPseudonym, card_id)
    if row is None:
        return None
    last = session.execute(
        select(RevocationEvent)
        .where(RevocationEvent.kind == "pseudonym", RevocationEvent.value == row.pseudonym.hex())
        .order_by(RevocationEvent.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if last is None or last.op != "add":
        return None
    if last.expires_at is not None and last.expires_at <= now:
        return None
    return last


def deny_pseudonym(session: Session, card_id: int, reason: str, now: datetime) -> bool:
    """List the card's pseudonym for ``reason`` (e.g. transit ``debt``): every QR code of the card
    is refused as ``credential.revoked`` with that reason. A card already listed for any reason
    stays listed under its first reason (lost beats debt). True when a listing was added.
    Does not commit."""
    pseudonym = card_pseudonym(session, card_id, now).hex()
    if pseudonym_listing(session, card_id, now) is not None:
        return False
    _log(session, "add", "pseudonym", pseudonym, reason, None, now)
    session.flush()
    return True


def allow_pseudonym(session: Session, card_id: int, reason: str, now: datetime) -> bool:
    """Lift a listing made for ``reason``; a listing for another reason (lost, sealed, replaced…)
    is left alone. True when the card came off the list. Does not commit."""
    if pseudonym_listing(session, card_id, now) != reason:
        return False
    row = session.get(CardPseudonym, card_id)
    _log(session, "remove", "pseudonym", row.pseudonym.hex(), reason, None, now)
    session.flush()
    return True


def revocation_version(session: Session) -> int:
    return session.execute(select(func.coalesce(func.max(RevocationEvent.id), 0))).scalar_one()


def _events_since(session: Session, since: int) -> list[RevocationEvent]:
    return list(
        session.execute(
            select(RevocationEvent).where(RevocationEvent.id > since).order_by(RevocationEvent.id)
        ).scalars()
    )


@dataclass
class _RevocationState:
    """The live list, folded from the event log up to ``version``."""

    version: int = 0
    serials: dict[str, tuple[str, datetime | None]] = field(default_factory=dict)
    pseudonyms: dict[str, tuple[str, datetime | None]] = field(default_factory=dict)

    def apply(self, events: list[RevocationEvent]) -> None:
        for e in events:
            if e.id <= self.version:  # fetched twice by racing threads: apply once
                continue
            target = self.serials if e.kind == "serial" else self.pseudonyms
            if e.op == "add":
                target[e.value] = (e.reason, e.expires_at)
            else:
                target.pop(e.value, None)
            self.version = e.id

    def live(self, now: datetime) -> tuple[dict[str, str], dict[str, str]]:
        def keep(entries):
            return {v: r for v, (r, exp) in entries.items() if exp is None or exp > now}

        return keep(self.serials), keep(self.pseudonyms)

    def next_expiry(self, now: datetime) -> datetime | None:
        times = [
            exp
            for entries in (self.serials, self.pseudonyms)
            for _, exp in entries.values()
            if exp is not None and exp > now
        ]
        return min(times, default=None)


def _card_entries(session: Session, pseudonyms: list[str]) -> list[dict[str, str]]:
    """``{"card", "pseudonym"}`` for the listed pseudonyms whose card has a serial: the card's
    deny tag (:func:`server.registry.chip.deny_tag`, never the serial), so an offline gate's SAM
    can refuse the physical card too. Its reason is the pseudonym's; a gate drops the tag when
    the pseudonym is removed."""
    from server.registry import chip

    if not pseudonyms:
        return []
    master = chip.master_key()
    wanted = [bytes.fromhex(p) for p in pseudonyms]
    entries = []
    for start in range(0, len(wanted), 1000):
        rows = session.execute(
            select(CardPseudonym.pseudonym, Card.serial)
            .join(Card, Card.id == CardPseudonym.card_id)
            .where(
                CardPseudonym.pseudonym.in_(wanted[start : start + 1000]), Card.serial.is_not(None)
            )
        )
        entries += [
            {"card": chip.deny_tag(master, serial), "pseudonym": bytes(p).hex()}
            for p, serial in rows
        ]
    return sorted(entries, key=lambda e: e["card"])


def _additions(session: Session, serials: dict[str, str], pseudonyms: dict[str, str]) -> dict:
    """A list document's ``add`` part from value → reason maps."""
    return {
        "serials": [{"serial": v, "reason": r} for v, r in sorted(serials.items())],
        "pseudonyms": [{"pseudonym": v, "reason": r} for v, r in sorted(pseudonyms.items())],
        "cards": _card_entries(session, sorted(pseudonyms)),
    }


def revocation_list_document(session: Session, since: int | None, now: datetime) -> dict:
    """The revocation list for terminals: the whole live list, or a delta since ``since``.
    ``add.cards`` tags the physical cards of the pseudonyms added (see :func:`_card_entries`)."""
    version = revocation_version(session)
    if since is not None and 0 <= since <= version:
        add_s: dict[str, str] = {}
        add_p: dict[str, str] = {}
        remove_s: set[str] = set()
        remove_p: set[str] = set()
        for e in _events_since(session, since):
            adds, removes = (add_s, remove_s) if e.kind == "serial" else (add_p, remove_p)
            if e.op == "add":
                adds[e.value] = e.reason
                removes.discard(e.value)
            else:
                adds.pop(e.value, None)
                removes.add(e.value)
        return {
            "version": version,
            "since": since,
            "full": False,
            "add": _additions(session, add_s, add_p),
            "remove": {"serials": sorted(remove_s), "pseudonyms": sorted(remove_p)},
        }
    state = _RevocationState()
    state.apply(_events_since(session, 0))
    serials, pseudonyms = state.live(now)
    return {
        "version": version,
        "since": None,
        "full": True,
        "add": _additions(session, serials, pseudonyms),
        "remove": {"serials": [], "pseudonyms": []},
    }


def _trusted_keys(session: Session) -> list[IssuerKey]:
    return list(
        session.execute(
            select(IssuerKey).where(IssuerKey.status != REVOKED).order_by(IssuerKey.kid)
        ).scalars()
    )


def _trust_version(keys: list[IssuerKey]) -> int:
    """A content version: changes whenever a key is added, retired or revoked."""
    digest = hashlib.sha256()
    for k in keys:
        digest.update(f"{k.kid}:{k.status}:{k.trusted_until.timestamp()}|".encode())
    return int.from_bytes(digest.digest()[:6], "big")


def trust_list_document(session: Session, now: datetime) -> dict:
    keys = _trusted_keys(session)
    return {
        "version": _trust_version(keys),
        "generated_at": now.isoformat(),
        "keys": [
            {
                "kid": k.kid,
                "public_key": base64.b64encode(k.public_key).decode(),
                "not_before": int(k.created_at.timestamp()) - 60,
                "not_after": int(k.trusted_until.timestamp()),
            }
            for k in keys
        ],
    }


# --- online verification ---------------------------------------------------------------------


class VerifierCache:
    """One :class:`Verifier` per process, refreshed when the keys or the revocation log change.

    Looking for changes costs two indexed queries, done at most every ``SSC_VERIFIER_REFRESH_S``
    seconds (default 1 s: a lost card is refused by every online terminal within a second); the
    revocation list is rebuilt only when the log grew or an entry expired, and the certificate
    cache survives both."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._verifier: Verifier | None = None
        self._trust_version: int | None = None
        self._revocations = _RevocationState()
        self._list_version = -1
        self._list_valid_until: datetime | None = None
        self._checked_at = 0.0

    def get(self, session: Session, now: datetime) -> Verifier:
        refresh = _cfg("SSC_VERIFIER_REFRESH_S")
        if (
            self._verifier is not None
            and refresh > 0
            and time.monotonic() - self._checked_at < refresh
            and (self._list_valid_until is None or now < self._list_valid_until)
        ):
            return self._verifier  # checked for changes less than a moment ago
        self._checked_at = time.monotonic()
        keys = _trusted_keys(session)
        trust_version = _trust_version(keys)
        events = _events_since(session, self._revocations.version)
        with self._lock:
            self._revocations.apply(events)
            revocations = None
            stale = self._list_valid_until is not None and now >= self._list_valid_until
            if self._revocations.version != self._list_version or stale:
                serials, pseudonyms = self._revocations.live(now)
                revocations = RevocationList(
                    serials={int(v): r for v, r in serials.items()},
                    pseudonyms={bytes.fromhex(v): r for v, r in pseudonyms.items()},
                    version=self._revocations.version,
                )
                self._list_version = self._revocations.version
                self._list_valid_until = self._revocations.next_expiry(now)
            trust = None
            if trust_version != self._trust_version:
                trust = TrustList(
                    [
                        TrustedKey(
                            kid=k.kid,
                            public_key=k.public_key,
                            not_before=int(k.created_at.timestamp()) - 60,
                            not_after=int(k.trusted_until.timestamp()),
                        )
                        for k in keys
                    ],
                    version=trust_version,
                )
                self._trust_version = trust_version
            if self._verifier is None:
                self._verifier = Verifier(
                    trust,
                    revocations,
                    None,
                    clock_skew_s=_cfg("SSC_CREDENTIAL_CLOCK_SKEW_S"),
                    presentation_ttl_s=_cfg("SSC_PRESENTATION_TTL_S"),
                )
            elif trust is not None or revocations is not None:
                self._verifier.update_lists(trust_list=trust, revocation_list=revocations)
            return self._verifier


_PSEUDONYM_CARDS: dict[bytes, int] = {}  # never changes once written: safe to keep per process
_PSEUDONYM_CACHE_MAX = 200_000


def card_for_pseudonym(session: Session, pseudonym: bytes) -> int | None:
    """The card behind a pseudonym (cached: a pseudonym never moves to another card)."""
    card_id = _PSEUDONYM_CARDS.get(pseudonym)
    if card_id is None:
        card_id = session.execute(
            select(CardPseudonym.card_id).where(CardPseudonym.pseudonym == pseudonym)
        ).scalar_one_or_none()
        if card_id is not None:
            if len(_PSEUDONYM_CARDS) >= _PSEUDONYM_CACHE_MAX:
                _PSEUDONYM_CARDS.clear()
            _PSEUDONYM_CARDS[pseudonym] = card_id
    return card_id


def verifier_cache() -> VerifierCache:
    return current_app.extensions["ssc.verifier"]


def _accepted_out(accepted: Accepted) -> dict:
    return {
        "accepted": True,
        "kind": accepted.kind,
        "serial": str(accepted.serial),
        "counter": accepted.counter,
        "categories": rules.category_names(accepted.categories),
        "home_city": str(accepted.home_city),
        "per_use_cap_fen": accepted.per_use_cap_fen,
        "scene": accepted.scene.name.lower(),
        "generated_at": datetime.fromtimestamp(accepted.generated_at, UTC).isoformat(),
    }


def insert_use(session: Session, values: dict) -> bool:
    """Insert a ``credential_use`` row (``values``: every column in ``_USE_COLUMNS``); False, and
    nothing written, when its (serial, counter) is already recorded. ``INSERT … ON CONFLICT DO
    NOTHING`` waits for a concurrent insert of the same pair and skips the row if that one
    commits: of concurrent copies exactly one is inserted, as with a unique violation, without a
    savepoint."""
    statement = _use_insert(session.get_bind().dialect.name)
    return session.execute(statement, values).first() is not None


_USE_COLUMNS = (
    "serial",
    "counter",
    "kind",
    "card_id",
    "terminal_id",
    "actor_label",
    "scene",
    "generated_at",
    "used_at",
)


@functools.cache
def _use_insert(dialect: str):
    """:func:`insert_use`'s statement, built once per dialect (parameters: ``_USE_COLUMNS``)."""
    table = CredentialUse.__table__
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return (
        insert(table)
        .values({name: bindparam(name, type_=table.c[name].type) for name in _USE_COLUMNS})
        .on_conflict_do_nothing(index_elements=[table.c.serial, table.c.counter])
        .returning(table.c.id)
    )


def _record_use(
    session: Session,
    *,
    serial: int,
    counter: int,
    kind: str,
    card_id: int | None,
    terminal_id: int | None,
    actor_label: str,
    scene: str,
    generated_at: datetime,
    now: datetime,
) -> None:
    """Insert the use; a second insert of the same (serial, counter), here or at any other
    terminal, concurrently or later, is ``credential.replayed``."""
    inserted = insert_use(
        session,
        {
            "serial": serial,
            "counter": counter,
            "kind": kind,
            "card_id": card_id,
            "terminal_id": terminal_id,
            "actor_label": actor_label,
            "scene": scene,
            "generated_at": generated_at,
            "used_at": now,
        },
    )
    if not inserted:
        raise DomainError("credential.replayed")


def verify_online(
    session: Session,
    *,
    text: str,
    scene: Scene,
    terminal_id: int | None,
    now: datetime,
    actor_label: str = "terminal",
) -> dict:
    """Verify a QR code for a terminal and record its use atomically: accepted exactly once."""
    verifier = verifier_cache().get(session, now)
    try:
        accepted = verifier.check_only(text, scene=scene, now=now)
    except Refused as exc:
        raise DomainError(f"credential.{exc.code}", reason=exc.reason) from None
    card_id = card_for_pseudonym(session, accepted.pseudonym)
    _record_use(
        session,
        serial=accepted.serial,
        counter=accepted.counter,
        kind=accepted.kind,
        card_id=card_id,
        terminal_id=terminal_id,
        actor_label=actor_label,
        scene=scene.name.lower(),
        generated_at=datetime.fromtimestamp(accepted.generated_at, UTC),
        now=now,
    )
    session.commit()
    return _accepted_out(accepted)


# --- server-signed codes and fallback codes -----------------------------------------------------


@dataclass(frozen=True)
class ServerCodeOut:
    text: str
    expires_at: datetime
    refresh_after: int


def issue_server_code(
    session: Session, person_id: int, scene: Scene, now: datetime
) -> ServerCodeOut:
    """A short-lived code signed by the issuer key itself, for thin clients (a web page, the kiosk
    screen) that hold no device key."""
    card = holder_card(session, person_id)
    _require_active(card)
    person = session.get(Person, person_id)
    key = active_issuer_key(session, now)
    validity = _cfg("SSC_SERVER_CODE_VALIDITY_S")
    first_pseudonym = session.get(CardPseudonym, card.id) is None
    pseudonym = card_pseudonym(session, card.id, now)
    generated = now.replace(microsecond=0)
    signer = ServerCodeSigner(key.kid, key_store().private_key(key.kid))
    text = signer.text(
        serial=_random_serial(),
        pseudonym=pseudonym,
        scene=scene,
        generated_at=generated,
        validity_s=validity,
        categories=rules.categories_on(person.birth_date, person.disability_level, local_date(now)),
        home_city=int(person.city_code),
        per_use_cap_fen=_cfg("SSC_ECARD_PER_USE_CAP_FEN"),
    )
    if first_pseudonym:
        session.commit()
    else:
        session.rollback()  # nothing written: end the transaction without a durable commit
    return ServerCodeOut(
        text=text,
        expires_at=generated + timedelta(seconds=validity),
        refresh_after=max(5, validity // 2),
    )


def verify_fallback(
    session: Session,
    *,
    card_serial: str,
    code: str,
    scene: Scene,
    terminal_id: int | None,
    actor_label: str,
    now: datetime,
) -> dict:
    """The 8-digit number under the QR code, typed in by staff with the card number: checked
    against the card's active channels (TOTP), accepted once per channel and time step."""
    card = session.execute(select(Card).where(Card.serial == card_serial)).scalar_one_or_none()
    if card is None or CardState(card.state) is not CardState.ACTIVE:
        raise DomainError("credential.fallback_incorrect")
    for channel in list_channels(session, card.id):
        if channel.status != ACTIVE:
            continue
        secret = cipher().decrypt(F_FALLBACK, channel.fallback_secret_enc)
        step = rules.fallback_step(secret, code, now)
        if step is None:
            continue
        _record_use(
            session,
            serial=channel.fallback_serial,
            counter=step,
            kind="fallback",
            card_id=card.id,
            terminal_id=terminal_id,
            actor_label=actor_label,
            scene=scene.name.lower(),
            generated_at=now,
            now=now,
        )
        person = session.get(Person, card.person_id)
        categories = rules.categories_on(
            person.birth_date, person.disability_level, local_date(now)
        )
        session.commit()
        return {
            "accepted": True,
            "kind": "fallback",
            "serial": str(channel.fallback_serial),
            "counter": step,
            "categories": rules.category_names(categories),
            "home_city": person.city_code,
            "per_use_cap_fen": _cfg("SSC_ECARD_PER_USE_CAP_FEN"),
            "scene": scene.name.lower(),
            "generated_at": now.isoformat(),
        }
    raise DomainError("credential.fallback_incorrect")


def fallback_code_now(secret: str, now: datetime) -> str:
    """What the phone shows under the QR code (used by the reference phone and tests)."""
    return rules.fallback_totp(secret).at(now)
