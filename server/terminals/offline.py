"""What an offline terminal runs: lists from the downloaded documents, delta merging, and a gate
that verifies locally and queues accepted taps for upload.

No Flask, no database (standard library, :mod:`server.credentials` and the pure card functions
of :mod:`server.registry.chip`): a metro gate or a bus
validator runs this with the documents it downloaded from ``/terminal/v1/trust-list`` and
``/terminal/v1/revocation-list``. Time is passed in.

Documents (see the terminal API)::

    trust list:      {"version", "generated_at", "keys": [{"kid", "public_key" (base64, 32 raw
                      bytes), "not_before", "not_after"}]}
    revocation list: {"version", "since", "full", "add": {"serials": [{"serial", "reason"}],
                      "pseudonyms": [{"pseudonym", "reason"}], "cards": [{"card", "pseudonym"}]},
                      "remove": {"serials": [...], "pseudonyms": [...]}}

``add.cards`` (optional; older lists have none) names the physical cards of listed pseudonyms by a
deny tag, ``HMAC-SHA256(card key, "SSC-CARD-DENY/v1")[:16]`` in hex, where the card key is
diversified from the card master key by the serial (:mod:`server.registry.chip`): the list never
names a serial, and only a gate holding the master key (its SAM) can match a tapped card. A tag
has its pseudonym's reason and goes when its pseudonym is removed.
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Any

from server.credentials.codec import PSEUDONYM_LEN, Category, Scene, to_unix
from server.credentials.verifier import (
    Accepted,
    MemoryReplayCache,
    Refused,
    ReplayCache,
    RevocationList,
    TrustedKey,
    TrustList,
    Verifier,
)
from server.registry import chip

__all__ = [
    "OfflineGate",
    "Sam",
    "apply_revocation_delta",
    "category_names",
    "revocation_list_from_document",
    "trust_list_from_document",
    "verifier_from_documents",
]


# --- the SAM: physical cards ------------------------------------------------------------------


class Sam:
    """A gate's secure access module: holds the card master key, checks a card's answer to the
    gate's challenge and computes the card's deny tag (its name on the revocation list), with the
    pure card functions of :mod:`server.registry.chip`."""

    def __init__(self, master: bytes) -> None:
        self._master = bytes(master)

    def mac_matches(self, serial: str, challenge: bytes, counter: int, mac: bytes) -> bool:
        return chip.mac_matches(self._master, serial, challenge, counter, mac)

    def deny_tag(self, serial: str) -> str:
        return chip.deny_tag(self._master, serial)


# --- documents → lists -------------------------------------------------------------------------


def trust_list_from_document(doc: Mapping[str, Any]) -> TrustList:
    """``ValueError`` when the document is malformed."""
    try:
        keys = [
            TrustedKey(
                kid=int(entry["kid"]),
                public_key=base64.b64decode(entry["public_key"], validate=True),
                not_before=int(entry["not_before"]),
                not_after=int(entry["not_after"]),
                revoked=bool(entry.get("revoked", False)),
            )
            for entry in doc["keys"]
        ]
        return TrustList(keys, version=int(doc["version"]))
    except (KeyError, TypeError, binascii.Error) as exc:
        raise ValueError(f"malformed trust list: {exc!r}") from None


def _serial(value: object) -> str:
    text = str(value)
    if not text.isascii() or not text.isdigit() or int(text) >= 1 << 64:
        raise ValueError(f"bad serial {value!r}")
    return str(int(text))


def _fixed_hex(value: object, length: int, what: str) -> str:
    """``value`` as lower-case hex of exactly ``length`` bytes; ValueError naming ``what``."""
    text = str(value).lower()
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise ValueError(f"bad {what} {value!r}") from None
    if len(raw) != length:
        raise ValueError(f"{what} must be {length} bytes")
    return raw.hex()


def _pseudonym(value: object) -> str:
    return _fixed_hex(value, PSEUDONYM_LEN, "pseudonym")


def _card_tag(value: object) -> str:
    return _fixed_hex(value, chip.DENY_TAG_LEN, "card tag")


def _cards(doc: Mapping[str, Any]) -> dict[str, str]:
    """Card deny tag → the pseudonym it belongs to."""
    add = doc.get("add") or {}
    return {_card_tag(e["card"]): _pseudonym(e["pseudonym"]) for e in add.get("cards") or []}


def _entries(doc: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    add = doc.get("add") or {}
    serials = {_serial(e["serial"]): str(e.get("reason") or "") for e in add.get("serials", [])}
    pseudonyms = {
        _pseudonym(e["pseudonym"]): str(e.get("reason") or "") for e in add.get("pseudonyms", [])
    }
    return serials, pseudonyms


def _full_document(
    version: int,
    serials: dict[str, str],
    pseudonyms: dict[str, str],
    cards: dict[str, str] | None = None,
) -> dict:
    add: dict[str, list] = {
        "serials": [{"serial": s, "reason": serials[s]} for s in sorted(serials, key=int)],
        "pseudonyms": [{"pseudonym": p, "reason": pseudonyms[p]} for p in sorted(pseudonyms)],
    }
    tagged = [
        {"card": c, "pseudonym": p}
        for c, p in sorted((cards or {}).items())
        if p in pseudonyms  # a tag lives as long as its pseudonym's entry
    ]
    if tagged:  # optional: a list without card tags keeps its old shape
        add["cards"] = tagged
    return {
        "version": version,
        "since": None,
        "full": True,
        "add": add,
        "remove": {"serials": [], "pseudonyms": []},
    }


def _require_full(doc: Mapping[str, Any], what: str) -> None:
    if not doc.get("full"):
        raise ValueError(f"{what} must be a full revocation list")


def revocation_list_from_document(doc: Mapping[str, Any]) -> RevocationList:
    """A full revocation list document → :class:`RevocationList` (``ValueError`` for a delta)."""
    _require_full(doc, "the document")
    try:
        serials, pseudonyms = _entries(doc)
        return RevocationList(
            {int(s): r for s, r in serials.items()},
            {bytes.fromhex(p): r for p, r in pseudonyms.items()},
            version=int(doc["version"]),
        )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"malformed revocation list: {exc!r}") from None


def apply_revocation_delta(
    current_doc: Mapping[str, Any], delta_doc: Mapping[str, Any]
) -> dict[str, Any]:
    """Merge a downloaded revocation document into the full list a terminal holds.

    A full document replaces the current one. A delta must start where the current list ends
    (``delta.since == current.version``); otherwise ``ValueError`` — download the full list.
    Removals are applied before additions, so an entry in both stays revoked (fail closed).
    """
    if delta_doc.get("full"):
        serials, pseudonyms = _entries(delta_doc)
        return _full_document(int(delta_doc["version"]), serials, pseudonyms, _cards(delta_doc))
    _require_full(current_doc, "the current list")
    current_version = int(current_doc["version"])
    since = delta_doc.get("since")
    if since is None or int(since) != current_version:
        raise ValueError(
            f"revocation delta since {since} does not follow version {current_version}"
        )
    version = int(delta_doc["version"])
    if version < current_version:
        raise ValueError(f"revocation delta version {version} is older than {current_version}")
    serials, pseudonyms = _entries(current_doc)
    cards = _cards(current_doc)
    remove = delta_doc.get("remove") or {}
    for serial in remove.get("serials", []):
        serials.pop(_serial(serial), None)
    for pseudonym in remove.get("pseudonyms", []):
        pseudonyms.pop(_pseudonym(pseudonym), None)
    added_serials, added_pseudonyms = _entries(delta_doc)
    serials.update(added_serials)
    pseudonyms.update(added_pseudonyms)
    cards.update(_cards(delta_doc))
    return _full_document(version, serials, pseudonyms, cards)  # drops tags of removed entries


def verifier_from_documents(
    trust_doc: Mapping[str, Any],
    revocation_doc: Mapping[str, Any],
    replay_cache: ReplayCache | None = None,
    **verifier_kwargs: Any,
) -> Verifier:
    """A :class:`Verifier` from downloaded documents (the revocation list must be full; merge
    deltas with :func:`apply_revocation_delta` first). ``verifier_kwargs``: ``clock_skew_s``,
    ``presentation_ttl_s``, ``cert_cache_size``."""
    return Verifier(
        trust_list_from_document(trust_doc),
        revocation_list_from_document(revocation_doc),
        replay_cache if replay_cache is not None else MemoryReplayCache(),
        **verifier_kwargs,
    )


# --- results -------------------------------------------------------------------------------------


def category_names(categories: Category) -> list[str]:
    """Known category flags as lower-case names (``senior_65_plus``); unknown bits are left out."""
    return [flag.name.lower() for flag in Category if flag and flag in categories and flag.name]


def _iso(moment: datetime | int) -> str:
    if isinstance(moment, datetime):
        return moment.astimezone(UTC).isoformat()
    return datetime.fromtimestamp(moment, UTC).isoformat()


def accepted_result(accepted: Accepted) -> dict[str, Any]:
    """The same shape the server's ``/verify`` returns."""
    return {
        "accepted": True,
        "kind": accepted.kind,
        "serial": str(accepted.serial),
        "counter": accepted.counter,
        "categories": category_names(accepted.categories),
        "home_city": str(accepted.home_city) if accepted.home_city else None,
        "per_use_cap_fen": accepted.per_use_cap_fen,
        "scene": Scene(accepted.scene).name.lower(),
        "generated_at": _iso(accepted.generated_at),
    }


def _scenes(scene: Scene | str | Collection[Scene | str]) -> frozenset[Scene]:
    items = [scene] if isinstance(scene, int | str) else list(scene)
    return frozenset(Scene[s.upper()] if isinstance(s, str) else Scene(s) for s in items)


def _denied_cards(full_doc: Mapping[str, Any]) -> dict[str, str]:
    """Card deny tag → reason, from a full (merged) revocation document."""
    _, pseudonyms = _entries(full_doc)
    return {
        tag: pseudonyms[p] or "pseudonym" for tag, p in _cards(full_doc).items() if p in pseudonyms
    }


# --- the gate ------------------------------------------------------------------------------------


class OfflineGate:
    """A terminal verifying without the network.

    Holds the documents it was given, a :class:`MemoryReplayCache` (a code is accepted once per
    gate), and a queue of accepted taps ``{local_seq, text, scanned_at}`` to upload later; the
    server de-duplicates uploads and flags a code used at two gates. ``local_seq`` increases by
    one per accepted tap; persist :attr:`next_seq` across restarts (pass it back as
    ``next_seq``). Thread-safe.

    With a :class:`Sam` (``sam``) the gate also takes physical cards (:meth:`tap_card`): queued as
    ``{local_seq, card, scanned_at}``, upload them as ``medium: "card"``."""

    def __init__(
        self,
        trust_doc: Mapping[str, Any],
        revocation_doc: Mapping[str, Any],
        *,
        replay_cache: MemoryReplayCache | None = None,
        next_seq: int = 1,
        sam: Sam | None = None,
        **verifier_kwargs: Any,
    ) -> None:
        self._lock = threading.Lock()
        self.sam = sam
        self._chip_counters: dict[str, int] = {}  # serial → highest counter answered here
        self.replay_cache = replay_cache if replay_cache is not None else MemoryReplayCache()
        self._trust_doc = dict(trust_doc)
        _require_full(revocation_doc, "the initial revocation list")
        self._revocation_doc = apply_revocation_delta({}, revocation_doc)
        self.verifier = verifier_from_documents(
            self._trust_doc, self._revocation_doc, self.replay_cache, **verifier_kwargs
        )
        self._next_seq = next_seq
        self._queue: list[dict[str, Any]] = []
        self._denied_cards = _denied_cards(self._revocation_doc)

    @property
    def trust_version(self) -> int:
        return int(self._trust_doc["version"])

    @property
    def revocation_version(self) -> int:
        """Pass as ``since`` when asking for the next revocation delta."""
        return int(self._revocation_doc["version"])

    @property
    def revocation_document(self) -> dict[str, Any]:
        return self._revocation_doc

    @property
    def next_seq(self) -> int:
        with self._lock:
            return self._next_seq

    def refresh(
        self,
        trust_doc: Mapping[str, Any] | None = None,
        revocation_doc: Mapping[str, Any] | None = None,
    ) -> None:
        """Install newly downloaded documents (None: unchanged, e.g. the server answered 304).
        A revocation delta is merged into the current list; a version gap raises ``ValueError``
        and changes nothing — download the full list then. The replay cache is kept."""
        trust = trust_list_from_document(trust_doc) if trust_doc is not None else None
        merged = None
        revocations = None
        if revocation_doc is not None:
            merged = apply_revocation_delta(self._revocation_doc, revocation_doc)
            revocations = revocation_list_from_document(merged)
        with self._lock:
            self.verifier.update_lists(trust_list=trust, revocation_list=revocations)
            if trust_doc is not None:
                self._trust_doc = dict(trust_doc)
            if merged is not None:
                self._revocation_doc = merged
                self._denied_cards = _denied_cards(merged)

    def scan(
        self, text: str, scene: Scene | str | Collection[Scene | str], now: datetime | int
    ) -> dict[str, Any]:
        """Verify ``text`` for the scene(s) this gate serves. Accepted: the result (as online)
        with its ``local_seq``, and the tap is queued. Refused: ``{"accepted": False, "code":
        "credential.<refusal>", "reason"}``, and nothing is recorded."""
        try:
            accepted = self.verifier.verify(text, scene=_scenes(scene), now=now)
        except Refused as exc:
            return {"accepted": False, "code": f"credential.{exc.code}", "reason": exc.reason}
        result = accepted_result(accepted)
        with self._lock:
            seq = self._next_seq
            self._next_seq += 1
            self._queue.append(
                {"local_seq": seq, "text": text.rstrip("\r\n"), "scanned_at": _iso(to_unix(now))}
            )
        result["local_seq"] = seq
        return result

    def tap_card(self, card: Mapping[str, Any], now: datetime | int) -> dict[str, Any]:
        """A physical card's answer ``{serial, challenge, counter, mac}`` (hex, as the chip gives
        it) to this gate's challenge, checked by the SAM. Refused (nothing queued) as
        ``chip.bad_mac``, ``chip.counter_replayed`` (not above the highest counter this gate has
        seen from the card) or — the card on the revocation list, e.g. transit debt —
        ``credential.revoked`` with the reason, as the server refuses it online; the answer's
        counter is spent then too. Accepted: ``{accepted, kind: "card", counter, local_seq}``,
        and the tap is queued. ``ValueError`` when the gate has no SAM."""
        if self.sam is None:
            raise ValueError("this gate has no SAM: it cannot take physical cards")
        try:
            serial = str(card["serial"])
            challenge = bytes.fromhex(str(card["challenge"]))
            counter = int(card["counter"])
            mac = bytes.fromhex(str(card["mac"]))
        except (KeyError, TypeError, ValueError):
            return {"accepted": False, "code": "chip.bad_mac", "reason": None}
        if not self.sam.mac_matches(serial, challenge, counter, mac):
            return {"accepted": False, "code": "chip.bad_mac", "reason": None}
        tag = self.sam.deny_tag(serial)
        with self._lock:
            if counter <= self._chip_counters.get(serial, 0):
                return {"accepted": False, "code": "chip.counter_replayed", "reason": None}
            self._chip_counters[serial] = counter
            reason = self._denied_cards.get(tag)
            if reason is not None:
                return {"accepted": False, "code": "credential.revoked", "reason": reason}
            seq = self._next_seq
            self._next_seq += 1
            self._queue.append(
                {
                    "local_seq": seq,
                    "card": {
                        "serial": serial,
                        "challenge": challenge.hex(),
                        "counter": counter,
                        "mac": mac.hex(),
                    },
                    "scanned_at": _iso(to_unix(now)),
                }
            )
        return {"accepted": True, "kind": "card", "counter": counter, "local_seq": seq}

    def pending(self) -> list[dict[str, Any]]:
        """Accepted taps not yet acknowledged by the server, oldest first."""
        with self._lock:
            return [dict(tap) for tap in self._queue]

    def acknowledge(self, up_to_seq: int) -> int:
        """Drop taps with ``local_seq <= up_to_seq`` (uploaded); returns how many."""
        with self._lock:
            before = len(self._queue)
            self._queue = [tap for tap in self._queue if tap["local_seq"] > up_to_seq]
            return before - len(self._queue)
