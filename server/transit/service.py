"""Taps and trips: terminal placement, online taps, offline tap batches, pricing glue.

A tap is a QR code (scene transit, device-bound or server-signed) or a physical card's answer to
the terminal's challenge (:mod:`server.registry.chip`). Metro entries and exits pair into trips;
buses, ferries and taxis make one-tap trips; bicycles pair ``bike_out`` with ``bike_in``. Closed
trips are priced at once by the fare engine (:func:`server.transit.rules.price_leg`) and wait for
collection with ``payment_status="pending"`` (ride now, pay later: :mod:`server.transit.payment`
collects; nothing here moves money).

Online (:func:`record_tap`): one transaction decides, records the credential use, the tap and its
trip, or refuses with a code and writes nothing. The card row is locked (``SELECT … FOR UPDATE``)
for the whole use case, so two taps of one card never race on its open trip or its caps. A card
whose pseudonym is on the revocation list (e.g. transit ``debt``) is refused by either medium with
``credential.revoked`` and the listing's reason; a physical card's genuine answer still spends its
chip counter then (the one thing such a refusal writes).

Offline (:func:`upload_batch`): a gate verified locally and uploads later. Idempotent by batch id
(the ``transit_tap_batch`` row is inserted first; a concurrent copy waits on its primary key and
then returns the stored results) and by (terminal, ``local_seq``) (a stored tap is a
``duplicate``). Each QR tap is re-verified at its ``tapped_at`` — signatures, certificate
validity, scene, and the revocation log *as it was then* — and its (serial, counter) recorded in
``credential_use``: one already used (online, or at another gate) is a ``double_use``, kept for
fraud review and never charged. A tap the gate accepted although the card was listed at that
moment (its list was older) is refused at upload when the listing says the code or card may not be
the holder's (lost, replaced, a revoked certificate); under a transit ``debt`` listing the ride
happened as the holder's own and is charged like any other, and flagged for review — the same
rule for QR codes and card chips. A card answer's counter is recorded there too, under the serial
``-card_id`` (certificate and fallback serials are positive), so one chip answer is charged once.

Late uploads: an exit that arrives after its entry was closed as ``no_exit`` (or an entry after its
exit was priced as ``no_entry``), within ``LATE_PAIRING``, completes that trip and re-prices it
while no money has been asked for it. Once the collection job has asked the bank for its maximum
fare (``collection_attempted_at``; paid, a debt, or the answer still awaited) the amount is fixed:
the late tap joins that trip as it is — recorded, pointing at the trip, not charged again (not a
second maximum fare for one ride). Lock order everywhere: card rows (by id) → credential uses (by
serial, counter) → taps → trips; the collection job takes the card row before the trip row too.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import json
import logging
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from typing import Any, Final

import orjson
from flask import current_app
from sqlalchemy import (
    Integer,
    bindparam,
    case,
    cast,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    text,
    tuple_,
    union_all,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server import pgwire
from server.clock import SHANGHAI, local_date
from server.credentials import service as credentials
from server.credentials.codec import Scene
from server.credentials.models import CardPseudonym, CredentialUse, RevocationEvent
from server.credentials.verifier import Accepted, Refused, RevocationList, Verifier
from server.db_types import UTCDateTime
from server.errors import DomainError
from server.extensions import db
from server.registry import chip
from server.registry.models import Card, CardEvent, Person
from server.registry.rules import CardState
from server.security import audit
from server.security.auth import ensure_scope
from server.security.rules import Actor
from server.terminals.models import Terminal
from server.terminals.rules import TerminalKind
from server.transit import rules as fare_rules
from server.transit.models import (
    LateJoin,
    TapBatch,
    TerminalPlacement,
    TransitNetwork,
    TransitStop,
    Trip,
)
from server.transit.models import Tap as TapRow
from server.transit.pricing import FareTable, History, Leg, NetworkInfo, PriorLeg, Rider

log = logging.getLogger("server.transit")

# --- what each terminal takes ---------------------------------------------------------------------

TAP_KINDS: Final[dict[TerminalKind, frozenset[str]]] = {
    TerminalKind.METRO_GATE: frozenset({"entry", "exit"}),
    TerminalKind.BUS_VALIDATOR: frozenset({"single"}),  # buses, ferries, coaches: one tap
    TerminalKind.TAXI_METER: frozenset({"taxi"}),
    TerminalKind.BIKE_DOCK: frozenset({"bike_out", "bike_in"}),
}
KINDS: Final = frozenset({"entry", "exit", "single", "taxi", "bike_out", "bike_in"})
MEDIA: Final = frozenset({"qr", "card"})
OPENING: Final = frozenset({"entry", "bike_out"})
CLOSING: Final = frozenset({"exit", "bike_in"})
STATIONED: Final = frozenset({TerminalKind.METRO_GATE, TerminalKind.BIKE_DOCK})  # need a stop

ACCEPTED, REFUSED, DUPLICATE, DOUBLE_USE = "accepted", "refused", "duplicate", "double_use"
OPEN, COMPLETE, INCOMPLETE = "open", "complete", "incomplete"
PENDING, UNPRICED = "pending", "unpriced"
REPRICEABLE: Final = frozenset({PENDING, UNPRICED})  # and never asked of the bank: no money moved

# Defaults; each may be overridden in the app config.
REENTRY_MINUTES = 15  # SSC_TRANSIT_REENTRY_MINUTES: a second entry this soon is refused
EXIT_TIMEOUT_MINUTES = 240  # SSC_TRANSIT_EXIT_TIMEOUT_MINUTES: networks without their own
MAX_BATCH_TAPS: Final = 5000
LATE_PAIRING: Final = timedelta(hours=24)  # an entry and an exit uploaded apart still pair
CARD_USE_KIND: Final = "card"
_CHUNK: Final = 1000
_SMALL_INSERT: Final = 8  # rows inserted with a plain INSERT rather than _bulk_insert's arrays
_PARALLEL_VERIFY_MIN: Final = 256


def _setting(name: str, default: Any) -> Any:
    try:
        return current_app.config.get(name, default)
    except RuntimeError:  # outside an app context (pure use)
        return default


def fare_table(session: Session) -> FareTable:
    """The current fare data (cached per process by the fares module, which asks the database
    for the latest import's id on every call; :class:`_OnlineCache` skips that question)."""
    from server.transit import fares

    cache = _online_cache()
    if cache is None:
        return fares.load_fare_table(session)
    table = cache.fare_table()
    if table is None:
        table = cache.keep_fare_table(fares.load_fare_table(session))
    return table


class _OnlineCache:
    """Per app and process, for ``SSC_TERMINAL_CACHE_S`` seconds (default 1 s; 0 turns it off):

    * the fare table: a new fare import is used within that time (a tap priced a moment after an
      import with the previous fares is what a tap a moment earlier would have got);
    * terminal placements: a terminal moved by :func:`place_terminal` in another process records
      its taps at the new place within that time (moves made in this process are seen at once;
      terminals not placed are never cached).

    Nothing here decides whether a terminal or a code is allowed: that is checked per request
    (the terminal record has its own cache, with the same setting)."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._table: tuple[float, FareTable] | None = None
        self._placements: dict[int, tuple[float, _Placement]] = {}

    def fare_table(self) -> FareTable | None:
        found = self._table
        if found is None or time.monotonic() - found[0] >= self.ttl:
            return None
        return found[1]

    def keep_fare_table(self, table: FareTable) -> FareTable:
        self._table = (time.monotonic(), table)
        return table

    def placement(self, terminal_id: int, ttl: float | None = None) -> _Placement | None:
        found = self._placements.get(terminal_id)
        if found is None or time.monotonic() - found[0] >= (ttl or self.ttl):
            return None
        return found[1]

    def keep_placement(self, placement: _Placement) -> None:
        if len(self._placements) >= _PLACEMENTS_MAX:
            self._placements.clear()
        self._placements[placement.terminal_id] = (time.monotonic(), placement)

    def forget_placement(self, terminal_id: int) -> None:
        self._placements.pop(terminal_id, None)


_PLACEMENTS_MAX: Final = 100_000
# A placement used by an online QR tap on PostgreSQL, whose first statement reads the row again.
_REVALIDATED_PLACEMENT_S: Final = 600.0


def _forget_placement(terminal_id: int) -> None:
    cache = _online_cache()
    if cache is not None:
        cache.forget_placement(terminal_id)


def _online_cache() -> _OnlineCache | None:
    """This app's :class:`_OnlineCache`, or None when ``SSC_TERMINAL_CACHE_S`` is 0 (or outside
    an app context)."""
    try:
        app = current_app._get_current_object()
    except RuntimeError:
        return None
    ttl = float(app.config.get("SSC_TERMINAL_CACHE_S", 0.0))
    extensions = app.extensions
    if ttl <= 0:
        return None
    cache = extensions.get("ssc.transit.online_cache")
    if cache is None or cache.ttl != ttl:
        cache = extensions["ssc.transit.online_cache"] = _OnlineCache(ttl)
    return cache


def exit_timeout(table: FareTable, network_id: str) -> timedelta:
    rule = table.incomplete_rules.get(network_id)
    minutes = rule.exit_timeout_minutes if rule and rule.exit_timeout_minutes else None
    if minutes is None:
        minutes = int(_setting("SSC_TRANSIT_EXIT_TIMEOUT_MINUTES", EXIT_TIMEOUT_MINUTES))
    return timedelta(minutes=minutes)


def reentry_window() -> timedelta:
    return timedelta(minutes=int(_setting("SSC_TRANSIT_REENTRY_MINUTES", REENTRY_MINUTES)))


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _started_from(since: date) -> datetime:
    """A lower bound on ``started_at`` for trips with ``service_date >= since``, so the history
    queries range-scan ``ix_transit_trip_card_started`` instead of reading every trip the card
    ever made. ``service_date`` is the Asia/Shanghai date of ``started_at``; the bound keeps a
    day in hand."""
    return datetime.combine(since - timedelta(days=1), dt_time(), SHANGHAI).astimezone(UTC)


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _history_since(day: date) -> date:
    """The first service date that pricing a ride on ``day`` reads: the month's first day (caps
    and volume discounts), or the day before on the 1st (a transfer from the night before)."""
    return min(_month_start(day), day - timedelta(days=1))


class _Refuse(Exception):
    """A tap refused inside a batch (raised as ``DomainError`` online)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


# --- placement ------------------------------------------------------------------------------------


def place_terminal(
    session: Session,
    actor: Actor,
    terminal_id: int,
    *,
    network_id: str,
    stop_id: str | None,
    now: datetime,
) -> TerminalPlacement:
    """Say where a transit terminal stands: its network (from the fare data) and, for gates and
    bicycle docks, its station. Placing again moves it."""
    terminal = session.get(Terminal, terminal_id, with_for_update=True)
    if terminal is None:
        raise DomainError("terminal.not_found")
    ensure_scope(actor, terminal.city_code)
    kind = TerminalKind(terminal.kind)
    if kind not in TAP_KINDS:
        raise DomainError("terminal.scene_not_allowed", "not a transit terminal")
    if session.get(TransitNetwork, network_id) is None:
        raise DomainError("transit.unknown_network", network_id=network_id)
    if stop_id is None and kind in STATIONED:
        raise DomainError(
            "request.validation_failed",
            "a gate or dock needs its station",
            errors=[{"field": "body.stop_id", "code": "missing"}],
        )
    if stop_id is not None and session.get(TransitStop, stop_id) is None:
        raise DomainError("transit.unknown_stop", stop_id=stop_id)
    placement = session.get(TerminalPlacement, terminal_id, with_for_update=True)
    if placement is None:
        placement = TerminalPlacement(terminal_id=terminal_id)
        session.add(placement)
    placement.network_id = network_id
    placement.stop_id = stop_id
    placement.placed_at = now
    audit.record(
        session,
        actor,
        "terminal.placed",
        object_type="terminal",
        object_id=terminal.id,
        city_code=terminal.city_code,
        now=now,
        code=terminal.code,
        network_id=network_id,
        stop_id=stop_id,
    )
    session.commit()
    cache = _online_cache()
    if cache is not None:
        cache.forget_placement(terminal_id)
    return placement


# --- who rides: card, person, categories ----------------------------------------------------------


@dataclass(slots=True)
class _Holder:
    card_id: int
    state: str
    home_city: str
    birth_date: date
    disability_level: int | None
    _categories: dict[date, frozenset[str]] = field(default_factory=dict)

    def categories_on(self, day: date) -> frozenset[str]:
        found = self._categories.get(day)
        if found is None:
            found = fare_rules.rider_categories(self.birth_date, self.disability_level, day)
            self._categories[day] = found
        return found


def _lock_holders(session: Session, card_ids: Iterable[int]) -> dict[int, _Holder]:
    """Card and person facts for pricing, locking the card rows in id order (one order for every
    use case, so two transactions never wait on each other in a cycle)."""
    holders: dict[int, _Holder] = {}
    statement = _lock_statement()
    for chunk in _chunks(sorted(set(card_ids))):
        for row in session.execute(statement, {"cards": list(chunk)}):
            holders[row.id] = _Holder(row.id, row.state, row.city_code, row[3], row[4])
    return holders


@functools.cache
def _lock_statement() -> Any:
    """:func:`_lock_holders`' query, built once (parameter ``cards``, a list of ids)."""
    return (
        select(Card.id, Card.state, Person.city_code, Person.birth_date, Person.disability_level)
        .join(Person, Person.id == Card.person_id)
        .where(Card.id.in_(bindparam("cards", expanding=True)))
        .order_by(Card.id)
        .with_for_update(of=Card)
    )


# --- what the rider already rode: the history the fare engine needs -------------------------------


@dataclass(slots=True)
class _Ride:
    key: int  # the trip's id, or a temporary negative key for a trip not yet written
    network_id: str
    mode: str
    city_code: str
    service_date: date
    ended_at: datetime | None
    charged_fen: int
    leg_group_id: str | None
    transfer_count: int
    counted: bool = True  # False: already in the totals loaded from the database


class _Ledger:
    """One card's priced rides, with running sums per day and month and (city, mode)."""

    __slots__ = ("day", "ends", "month", "paid", "rides")

    def __init__(self) -> None:
        self.day: dict[tuple[date, str, str], int] = defaultdict(int)
        self.month: dict[tuple[int, int, str, str], int] = defaultdict(int)
        self.paid: dict[tuple[int, int, str, str], int] = defaultdict(int)
        self.ends: list[tuple[datetime, int]] = []  # (ended_at, ride key), sorted
        self.rides: dict[int, _Ride] = {}

    def _count(self, ride: _Ride, sign: int) -> None:
        d = ride.service_date
        self.day[(d, ride.city_code, ride.mode)] += sign * ride.charged_fen
        self.month[(d.year, d.month, ride.city_code, ride.mode)] += sign * ride.charged_fen
        if ride.charged_fen > 0:
            self.paid[(d.year, d.month, ride.city_code, ride.mode)] += sign

    def add_totals(self, day: date, city: str, mode: str, charged: int, paid: int) -> None:
        """Rides summed by the database (their fares count; they are no transfer origin)."""
        self.day[(day, city, mode)] += charged
        self.month[(day.year, day.month, city, mode)] += charged
        self.paid[(day.year, day.month, city, mode)] += paid

    def add(self, ride: _Ride) -> None:
        self.remove(ride.key)
        self.rides[ride.key] = ride
        if ride.counted:
            self._count(ride, 1)
        if ride.ended_at is not None:
            bisect.insort(self.ends, (ride.ended_at, ride.key))

    def remove(self, key: int) -> None:
        ride = self.rides.pop(key, None)
        if ride is None:
            return
        if ride.counted:
            self._count(ride, -1)
        if ride.ended_at is not None:
            index = bisect.bisect_left(self.ends, (ride.ended_at, key))
            if index < len(self.ends) and self.ends[index] == (ride.ended_at, key):
                del self.ends[index]

    def history(self, table: FareTable, leg: Leg, service_date: date) -> History:
        y, m = service_date.year, service_date.month
        today = month = paid = 0
        cap = table.cap_for(leg.city_code, leg.mode, "day")
        if cap is not None:
            today = sum(self.day.get((service_date, cap.city_code, mode), 0) for mode in cap.modes)
        cap = table.cap_for(leg.city_code, leg.mode, "month")
        if cap is not None:
            month = sum(self.month.get((y, m, cap.city_code, mode), 0) for mode in cap.modes)
        volume = table.volume_rule_for(leg.city_code, leg.mode)
        if volume is not None:
            paid = sum(self.paid.get((y, m, volume.city_code, mode), 0) for mode in volume.modes)
        previous = None
        index = bisect.bisect_right(self.ends, (leg.started_at, 1 << 62))
        if index:
            ride = self.rides[self.ends[index - 1][1]]
            previous = PriorLeg(
                network_id=ride.network_id,
                mode=ride.mode,
                leg_group_id=ride.leg_group_id,
                ended_at=ride.ended_at,  # type: ignore[arg-type]
                charged_fen=ride.charged_fen,
                transfer_count=ride.transfer_count,
            )
        return History(
            service_date=service_date,
            charged_today_fen=today,
            charged_month_fen=month,
            paid_rides_this_month=paid,
            previous_leg=previous,
        )


_temporary_keys = itertools.count(-1, -1)


def _repriceable(trip: Mapping[str, Any]) -> bool:
    """A stored trip a later tap may still change (an incomplete one paired late): nothing was
    collected or asked of the bank for it yet. Once the collection job has asked, its fare is the
    one the bank was asked for (:mod:`server.transit.payment`)."""
    return trip["payment_status"] in REPRICEABLE and trip["collection_attempted_at"] is None


def _key(trip: dict[str, Any]) -> int:
    """A stable ledger key for a trip row (its id, or a negative key until it has one)."""
    key = trip.get("_key")
    if key is None:
        key = trip["id"] if trip["id"] is not None else next(_temporary_keys)
        trip["_key"] = key
    return key


def _ride(trip: dict[str, Any]) -> _Ride:
    return _Ride(
        key=_key(trip),
        network_id=trip["network_id"],
        mode=trip["mode"],
        city_code=trip["city_code"],
        service_date=trip["service_date"],
        ended_at=trip["ended_at"],
        charged_fen=trip["charged_fen"] or 0,
        leg_group_id=trip["leg_group_id"],
        transfer_count=trip["transfer_count"] or 0,
    )


# --- trips as rows (plain dicts: cheap to build, bulk-inserted as they are) -----------------------

TRIP_COLUMNS: Final = tuple(c.name for c in Trip.__table__.columns)
# card_id, then the fields of _Ride in order (its key is the trip id)
_LEDGER_COLUMNS: Final = (
    "card_id",
    "id",
    "network_id",
    "mode",
    "city_code",
    "service_date",
    "ended_at",
    "charged_fen",
    "leg_group_id",
    "transfer_count",
)
TAP_COLUMNS: Final = tuple(c.name for c in TapRow.__table__.columns)


def _new_trip(
    holder: _Holder,
    network: NetworkInfo,
    *,
    started_at: datetime,
    status: str,
    now: datetime,
    from_stop_id: str | None = None,
    entry_tap_id: int | None = None,
    ended_at: datetime | None = None,
    to_stop_id: str | None = None,
    exit_tap_id: int | None = None,
    incomplete: str | None = None,
) -> dict[str, Any]:
    service_date = local_date(started_at)
    return {
        "id": None,
        "card_id": holder.card_id,
        "network_id": network.network_id,
        "operator_id": network.operator_id,
        "mode": network.mode,
        "city_code": network.city_code,
        "home_city": holder.home_city,
        "rider_categories": ",".join(sorted(holder.categories_on(service_date))),
        "from_stop_id": from_stop_id,
        "to_stop_id": to_stop_id,
        "entry_tap_id": entry_tap_id,
        "exit_tap_id": exit_tap_id,
        "started_at": started_at,
        "ended_at": ended_at,
        "service_date": service_date,
        "status": status,
        "incomplete": incomplete,
        "base_fen": 0,
        "concession_fen": 0,
        "transfer_fen": 0,
        "volume_fen": 0,
        "cap_fen": 0,
        "charged_fen": 0,
        "leg_group_id": None,
        "fare_product_id": None,
        "rider_category_id": None,
        "concession_policy_id": None,
        "notes": None,
        "transfer_count": 0,
        "payment_status": UNPRICED,
        "journal_entry_id": None,
        "created_at": now,
        "priced_at": None,
        "collection_attempted_at": None,
    }


def _price_row(
    trip: dict[str, Any],
    holder: _Holder,
    ledger: _Ledger,
    table: FareTable,
    now: datetime,
    metered_amount_fen: int | None = None,
) -> None:
    """Price a closed trip row in place and add it to the card's ledger. A trip the fare data
    cannot price stays ``unpriced`` with the engine's code in ``notes`` (the tap stands)."""
    ledger.remove(_key(trip))
    leg = Leg(
        network_id=trip["network_id"],
        mode=trip["mode"],
        city_code=trip["city_code"],
        operator_id=trip["operator_id"],
        started_at=trip["started_at"],
        ended_at=trip["ended_at"],
        from_stop_id=trip["from_stop_id"],
        to_stop_id=trip["to_stop_id"],
        metered_amount_fen=metered_amount_fen,
        incomplete=trip["incomplete"],
    )
    categories = holder.categories_on(trip["service_date"])
    rider = Rider(card_id=holder.card_id, home_city=holder.home_city, categories=categories)
    history = ledger.history(table, leg, trip["service_date"])
    try:
        fare = fare_rules.price_leg(leg, rider, history, table)
    except fare_rules.FareError as exc:
        log.warning("trip not priced", extra={"code": exc.code, "network": trip["network_id"]})
        trip.update(
            base_fen=0,
            concession_fen=0,
            transfer_fen=0,
            volume_fen=0,
            cap_fen=0,
            charged_fen=0,
            notes=exc.code,
            payment_status=UNPRICED,
            priced_at=None,
        )
        return
    previous = history.previous_leg
    trip.update(
        base_fen=fare.base_fen,
        concession_fen=fare.concession_fen,
        transfer_fen=fare.transfer_fen,
        volume_fen=fare.volume_fen,
        cap_fen=fare.cap_fen,
        charged_fen=fare.charged_fen,
        leg_group_id=fare.leg_group_id,
        fare_product_id=fare.fare_product_id,
        rider_category_id=fare.rider_category_id,
        concession_policy_id=fare.concession_policy_id,
        notes=",".join(fare.notes)[:200] or None,
        transfer_count=previous.transfer_count + 1 if fare.transfer_fen and previous else 0,
        rider_categories=",".join(sorted(categories)),
        payment_status=PENDING,
        priced_at=now,
    )
    ledger.add(_ride(trip))


class _Trips:
    """The trips of a set of (locked) cards while taps are applied in time order: open trips,
    late-pairing candidates, ledgers; new rows and changed rows to write afterwards."""

    def __init__(
        self,
        table: FareTable,
        holders: Mapping[int, _Holder],
        now: datetime,
        *,
        reentry: timedelta,
    ) -> None:
        self.table = table
        self.holders = holders
        self.now = now
        self.reentry = reentry
        self.open: dict[tuple[int, str], dict[str, Any]] = {}
        self.no_exit: dict[tuple[int, str], list[dict[str, Any]]] = defaultdict(list)
        self.no_entry: dict[tuple[int, str], list[dict[str, Any]]] = defaultdict(list)
        # incomplete trips of the last LATE_PAIRING whose fare is collected or being collected
        self.charged: dict[tuple[int, str], list[dict[str, Any]]] = defaultdict(list)
        self.ledgers: dict[int, _Ledger] = defaultdict(_Ledger)
        self.new: list[dict[str, Any]] = []
        self.changed: dict[int, dict[str, Any]] = {}
        self.joined: list[int] = []  # charged trips a late tap joined: fare adjustments due

    # -- loading

    def load(self, session: Session, since: date, first: datetime) -> None:
        """What the cards in ``holders`` already rode, for taps from ``first`` on.

        Whole rows for open trips and re-priceable incomplete ones (they may change), and for
        incomplete ones charged since ``first - LATE_PAIRING`` (a late tap joins them); per day,
        city and mode totals of the other rides since ``since`` (caps, volume discounts); and as
        transfer origins only the rides that can still be one: each card's last ride ended
        before ``first`` (within the longest transfer window) and any ended after it. So a
        batch reads a few rows per card, however much the card rode this month."""
        window = _transfer_window(self.table)
        oldest = first - window if window is not None else None
        statement = _load_statement(oldest is not None)
        for chunk in _chunks(sorted(self.holders)):
            params = {
                "cards": list(chunk),
                "since": since,
                "started_from": _started_from(since),
                "first": first,
                "oldest": oldest,
                "late_from": first - LATE_PAIRING,
            }
            for row in session.execute(statement, params).mappings():
                part = row["part"]
                if part == _LIVE:
                    self._index({name: row[name] for name in TRIP_COLUMNS})
                elif part == _TOTALS:  # the sums come in charged_fen and transfer_count
                    self.ledgers[row["card_id"]].add_totals(
                        row["service_date"],
                        row["city_code"],
                        row["mode"],
                        int(row["charged_fen"]),
                        int(row["transfer_count"]),
                    )
                else:
                    card_id, *fields = (row[name] for name in _LEDGER_COLUMNS)
                    self.ledgers[card_id].add(_Ride(*fields, counted=False))

    def absorb(
        self,
        live: Iterable[dict[str, Any]],
        totals: Iterable[Sequence[Any]],
        origins: Iterable[Sequence[Any]],
    ) -> None:
        """What :meth:`load` reads, its three parts read separately (:func:`_pg_claim_and_load`):
        whole live rows by start; (card_id, day, city, mode, charged, paid rides) totals;
        transfer origins in the ``_LEDGER_COLUMNS``."""
        for row in live:
            self._index(row)
        for card_id, day, city, mode, charged, paid in totals:
            self.ledgers[card_id].add_totals(day, city, mode, int(charged), int(paid))
        for card_id, *fields in origins:
            self.ledgers[card_id].add(_Ride(*fields, counted=False))

    def _index(self, row: dict[str, Any]) -> None:
        key = (row["card_id"], row["network_id"])
        if row["status"] == OPEN:
            self.open[key] = row  # the latest open trip wins (ordered by start)
            return
        if not _repriceable(row):  # counted in the totals; only a late tap may still join it
            self.charged[key].append(row)
            return
        if row["priced_at"] is not None:
            self.ledgers[row["card_id"]].add(_ride(row))
        if row["incomplete"] == "no_exit":
            self.no_exit[key].append(row)
        elif row["incomplete"] == "no_entry":
            self.no_entry[key].append(row)

    # -- applying taps

    def _price(self, trip: dict[str, Any], metered: int | None = None) -> None:
        holder = self.holders[trip["card_id"]]
        ledger = self.ledgers[trip["card_id"]]
        _price_row(trip, holder, ledger, self.table, self.now, metered)
        if trip["id"] is not None:  # a stored trip (new ones get their ids after all taps)
            self.changed[trip["id"]] = trip

    def _close_no_exit(self, key: tuple[int, str], trip: dict[str, Any]) -> None:
        trip.update(status=INCOMPLETE, incomplete="no_exit", ended_at=None)
        self._price(trip)
        self.no_exit[key].append(trip)

    def apply(
        self, tap: dict[str, Any], network: NetworkInfo, metered: int | None = None
    ) -> dict[str, Any]:
        """Apply one accepted tap (a row with ``id``, ``card_id``, ``kind``, ``stop_id``,
        ``tapped_at``); returns the trip it belongs to. Raises :class:`_Refuse`."""
        holder = self.holders[tap["card_id"]]
        at = tap["tapped_at"]
        key = (holder.card_id, network.network_id)
        kind = tap["kind"]
        if kind in OPENING:
            current = self.open.get(key)
            if current is not None:
                age = at - current["started_at"]
                if timedelta(0) <= age < self.reentry:
                    raise _Refuse("transit.already_inside")
            merged = self._late_entry(key, tap, network)
            if merged is not None:
                return merged
            trip = _new_trip(
                holder,
                network,
                started_at=at,
                status=OPEN,
                now=self.now,
                from_stop_id=tap["stop_id"],
                entry_tap_id=tap["id"],
            )
            self.new.append(trip)
            if current is not None and current["started_at"] > at:
                # An entry uploaded late, older than the trip already open: it never exited.
                self._close_no_exit(key, trip)
                return trip
            if current is not None:
                self._close_no_exit(key, current)
            self.open[key] = trip
            return trip
        if kind in CLOSING:
            current = self.open.get(key)
            if current is not None and current["started_at"] <= at:
                del self.open[key]
                current.update(
                    status=COMPLETE, ended_at=at, to_stop_id=tap["stop_id"], exit_tap_id=tap["id"]
                )
                self._price(current)
                return current
            merged = self._late_exit(key, tap)
            if merged is not None:
                return merged
            trip = _new_trip(
                holder,
                network,
                started_at=at,
                status=INCOMPLETE,
                now=self.now,
                ended_at=at,
                to_stop_id=tap["stop_id"],
                exit_tap_id=tap["id"],
                incomplete="no_entry",
            )
            self.new.append(trip)
            self._price(trip)
            self.no_entry[key].append(trip)
            return trip
        # single, taxi: one tap, one trip
        trip = _new_trip(
            holder,
            network,
            started_at=at,
            status=COMPLETE,
            now=self.now,
            from_stop_id=tap["stop_id"],
            entry_tap_id=tap["id"],
            ended_at=at,
        )
        self.new.append(trip)
        self._price(trip, metered)
        return trip

    def _late_exit(self, key: tuple[int, str], tap: dict[str, Any]) -> dict[str, Any] | None:
        """An exit whose entry was already closed as ``no_exit`` (uploaded later): complete it."""
        at = tap["tapped_at"]

        def fits(t: dict[str, Any]) -> bool:
            return t["started_at"] <= at <= t["started_at"] + LATE_PAIRING

        candidates = [t for t in self.no_exit.get(key, ()) if fits(t)]
        if not candidates:
            return self._join_charged(key, "no_exit", fits)
        trip = max(candidates, key=lambda t: t["started_at"])
        self.no_exit[key].remove(trip)
        trip.update(
            status=COMPLETE,
            incomplete=None,
            ended_at=at,
            to_stop_id=tap["stop_id"],
            exit_tap_id=tap["id"],
        )
        self._price(trip)
        return trip

    def _late_entry(
        self, key: tuple[int, str], tap: dict[str, Any], network: NetworkInfo
    ) -> dict[str, Any] | None:
        """An entry whose exit was already priced as ``no_entry`` (uploaded later)."""
        at = tap["tapped_at"]
        limit = at + LATE_PAIRING

        def fits(t: dict[str, Any]) -> bool:
            return at <= t["ended_at"] <= limit

        candidates = [t for t in self.no_entry.get(key, ()) if fits(t)]
        if not candidates:
            return self._join_charged(key, "no_entry", fits)
        trip = min(candidates, key=lambda t: t["ended_at"])
        self.no_entry[key].remove(trip)
        trip.update(
            status=COMPLETE,
            incomplete=None,
            started_at=at,
            service_date=local_date(at),
            from_stop_id=tap["stop_id"],
            entry_tap_id=tap["id"],
        )
        self._price(trip)
        return trip

    def _join_charged(
        self, key: tuple[int, str], incomplete: str, fits: Callable[[dict[str, Any]], bool]
    ) -> dict[str, Any] | None:
        """The other half of an incomplete trip whose maximum fare was already collected, or asked
        of the bank (its amount is fixed, :func:`_repriceable`), uploaded late: the tap belongs to
        that trip and is not charged again — not a second maximum fare for the same ride. The trip
        row stays as charged (the collection may be finishing it right now); the tap points at it,
        and the holder's trips show it (``statement.late_taps``). The trip is listed in
        ``transit_late_join`` (:attr:`joined`, written with the taps) for the fare adjustment
        (:mod:`server.transit.adjustment`), which completes it once the money side has an answer
        and gives back the difference. One tap joins a trip: once one has, the trip is no longer
        loaded as a candidate, and a further exit is another ride. Chosen as the re-priceable
        ones are: an exit joins the latest entry, an entry the earliest exit."""
        candidates = [
            t for t in self.charged.get(key, ()) if t["incomplete"] == incomplete and fits(t)
        ]
        if not candidates:
            return None
        if incomplete == "no_exit":
            trip = max(candidates, key=lambda t: t["started_at"])
        else:
            trip = min(candidates, key=lambda t: t["ended_at"])
        self.charged[key].remove(trip)  # one late tap per trip
        self.joined.append(trip["id"])
        return trip

    # -- writing

    def assign_ids(self, session: Session) -> None:
        ids = _allocate_ids(session, "transit_trip", len(self.new))
        for trip, trip_id in zip(self.new, ids, strict=True):
            trip["id"] = trip_id

    def write(self, session: Session) -> None:
        if len(self.new) > _SMALL_INSERT:
            _bulk_insert(session, Trip.__table__, [_only(t, TRIP_COLUMNS) for t in self.new])
        elif self.new:  # an online tap's trip: a plain INSERT is cheaper than building arrays
            session.execute(insert(Trip.__table__), [_only(t, TRIP_COLUMNS) for t in self.new])
        for trip_id, trip in self.changed.items():
            values = {k: v for k, v in trip.items() if k in TRIP_COLUMNS and k != "id"}
            session.execute(update(Trip.__table__).where(Trip.id == trip_id).values(**values))
        if self.joined:
            session.execute(
                insert(LateJoin.__table__),
                [{"trip_id": trip_id, "created_at": self.now} for trip_id in self.joined],
            )


_LIVE, _TOTALS, _ORIGINS = 0, 1, 2  # the parts of _load_statement's answer


@functools.cache
def _load_statement(bounded: bool) -> Any:
    """The query of :meth:`_Trips.load`, built once (building it costs more than running it),
    three parts in one round trip, each row shaped as a trip row plus ``part``:

    * ``_LIVE``: whole rows of open trips, re-priceable incomplete ones, and incomplete ones
      already charged that started after ``late_from`` and no late tap has joined yet (one may
      still), by start;
    * ``_TOTALS``: per card, day, city and mode, the sum of settled fares in ``charged_fen``
      and the number of paid rides in ``transfer_count`` (other columns null);
    * ``_ORIGINS``: the settled rides that can still be a transfer origin, in the
      ``_LEDGER_COLUMNS`` (others null).

    Parameters: ``cards`` (a list of ids), ``since``, ``started_from`` (:func:`_started_from`),
    ``first``, ``late_from`` (``first - LATE_PAIRING``) and, when ``bounded``, ``oldest`` (the
    start of the longest transfer window)."""
    trip = Trip.__table__
    mine = trip.c.card_id.in_(bindparam("cards", expanding=True))
    since = bindparam("since", type_=trip.c.service_date.type)
    recent_enough = (
        trip.c.started_at >= bindparam("started_from", type_=trip.c.started_at.type)
    ) & (trip.c.service_date >= since)
    first = bindparam("first", type_=trip.c.ended_at.type)
    repriceable = (
        trip.c.incomplete.is_not(None)
        & trip.c.payment_status.in_(REPRICEABLE)
        & trip.c.collection_attempted_at.is_(None)
    )
    settled = recent_enough & (trip.c.status != OPEN) & trip.c.priced_at.is_not(None) & ~repriceable

    def shaped(part: int, given: Mapping[str, Any]) -> list[Any]:
        """``part``, then every trip column: from ``given`` or null (typed as the column)."""
        out: list[Any] = [literal(part, Integer).label("part")]
        for name in TRIP_COLUMNS:
            value = given.get(name)
            if value is None:
                value = cast(null(), trip.c[name].type)
            out.append(value.label(name))
        return out

    late_from = bindparam("late_from", type_=trip.c.started_at.type)
    tap = TapRow.__table__
    # a late tap already joined it: the next one is another ride
    joined = select(tap.c.id).where(*late_tap_of(tap, trip)).exists()
    charged = (
        trip.c.incomplete.is_not(None) & ~repriceable & (trip.c.started_at >= late_from) & ~joined
    )
    live = or_(trip.c.status == OPEN, repriceable & recent_enough, charged)
    rows = select(*shaped(_LIVE, {n: trip.c[n] for n in TRIP_COLUMNS})).where(mine, live)
    grouped = (trip.c.card_id, trip.c.service_date, trip.c.city_code, trip.c.mode)
    totals = (
        select(
            *shaped(
                _TOTALS,
                {
                    "card_id": trip.c.card_id,
                    "service_date": trip.c.service_date,
                    "city_code": trip.c.city_code,
                    "mode": trip.c.mode,
                    "charged_fen": func.sum(trip.c.charged_fen),
                    "transfer_count": func.sum(case((trip.c.charged_fen > 0, 1), else_=0)),
                },
            )
        )
        .where(mine, settled)
        .group_by(*grouped)
    )
    after = trip.c.ended_at >= first
    rank = (
        func.row_number()
        .over(
            partition_by=(trip.c.card_id, after),
            order_by=(trip.c.ended_at.desc(), trip.c.id.desc()),
        )
        .label("rank")
    )
    recent = [trip.c[name] for name in _LEDGER_COLUMNS]
    where = [mine, settled, trip.c.ended_at.is_not(None)]
    if bounded:
        where.append(trip.c.ended_at >= bindparam("oldest", type_=trip.c.ended_at.type))
    ranked = select(*recent, after.label("after"), rank).where(*where).subquery()
    origins = select(*shaped(_ORIGINS, {name: ranked.c[name] for name in _LEDGER_COLUMNS})).where(
        or_(ranked.c.after, ranked.c.rank == 1)
    )
    union = union_all(rows, totals, origins).subquery()
    return select(union).order_by(union.c.part, union.c.started_at, union.c.id)


def late_tap_of(tap: Any, trip: Any) -> tuple[Any, ...]:
    """SQL conditions (on the ``transit_tap`` and ``transit_trip`` tables) for a tap that joined
    the trip after its maximum fare was fixed (:meth:`_Trips._join_charged`): it points at the
    trip and is neither its entry nor its exit tap. ``_PG_LIVE`` states the same in SQL text."""
    return (
        tap.c.trip_id == trip.c.id,
        tap.c.id != func.coalesce(trip.c.entry_tap_id, 0),
        tap.c.id != func.coalesce(trip.c.exit_tap_id, 0),
    )


def _transfer_window(table: FareTable) -> timedelta | None:
    """How long after a ride a transfer discount may still start from it (None: no limit)."""
    limits = [t.duration_limit_s for t in table.transfer_rules]
    if not limits:
        return timedelta(0)
    if any(limit is None for limit in limits):
        return None
    return timedelta(seconds=max(limits))  # type: ignore[type-var]


def _only(row: Mapping[str, Any], columns: Iterable[str]) -> dict[str, Any]:
    return {c: row.get(c) for c in columns}


# --- database helpers -----------------------------------------------------------------------------


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _allocate_ids(session: Session, table: str, count: int) -> list[int]:
    """``count`` primary keys for rows about to be inserted in this transaction (so taps and trips
    can point at each other in one bulk insert). PostgreSQL: from the id sequence. SQLite: the
    transaction holds the write lock from BEGIN IMMEDIATE, so max(id) + 1 … is ours."""
    if count <= 0:
        return []
    if _dialect(session) == "postgresql":
        return list(
            session.execute(
                text(
                    "SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"
                ),
                {"t": table, "n": count},
            ).scalars()
        )
    start = session.execute(text(f"SELECT coalesce(max(id), 0) FROM {table}")).scalar_one()
    return list(range(start + 1, start + count + 1))


_UNASSIGNED: Final[Any] = object()  # an online tap's id until it is allocated


def _allocate_tap_and_trip_ids(session: Session, trips: int) -> tuple[int, list[int]]:
    """One tap id and ``trips`` trip ids in one round trip (see :func:`_allocate_ids`)."""
    if _dialect(session) == "postgresql":
        tap_id, trip_ids = session.execute(
            text(
                "SELECT nextval(pg_get_serial_sequence('transit_tap', 'id')),"
                " ARRAY(SELECT nextval(pg_get_serial_sequence('transit_trip', 'id'))"
                " FROM generate_series(1, :n))"
            ),
            {"n": trips},
        ).one()
        return tap_id, list(trip_ids)
    last_tap, last_trip = session.execute(
        text(
            "SELECT (SELECT coalesce(max(id), 0) FROM transit_tap),"
            " (SELECT coalesce(max(id), 0) FROM transit_trip)"
        )
    ).one()
    return last_tap + 1, list(range(last_trip + 1, last_trip + trips + 1))


def _fill_tap_id(trips: _Trips, tap_id: int) -> None:
    """Put the online tap's id, now known, where :meth:`_Trips.apply` left ``_UNASSIGNED``."""
    for touched in (*trips.new, *trips.changed.values()):
        for name in ("entry_tap_id", "exit_tap_id"):
            if touched[name] is _UNASSIGNED:
                touched[name] = tap_id


def _insert_online_tap(
    session: Session, tap: dict[str, Any], trip: dict[str, Any], *, new: bool
) -> None:
    """PostgreSQL: allocate the tap's id (and, when ``new``, its trip's), insert the tap (and the
    trip) in one statement; sets ``tap["id"]``, ``tap["trip_id"]`` and a new trip's ``id``.
    A trip column holding ``_UNASSIGNED`` gets the tap's id."""
    params: dict[str, Any] = {
        f"tap_{name}": tap[name] for name in TAP_COLUMNS if name not in ("id", "trip_id")
    }
    if new:
        for name in TRIP_COLUMNS:
            if name == "id":
                continue
            value = trip[name]
            if name in ("entry_tap_id", "exit_tap_id"):
                params[f"{name}_is_tap"] = value is _UNASSIGNED
                value = None if value is _UNASSIGNED else value
            params[f"trip_{name}"] = value
    else:
        params["trip_id"] = trip["id"]
    tap_id, trip_id = session.execute(_online_tap_statement(new), params).one()
    tap["id"], tap["trip_id"] = tap_id, trip_id
    if new:
        trip["id"] = trip_id


@functools.cache
def _online_tap_statement(new: bool) -> Any:
    """The SQL of :func:`_insert_online_tap` (built once per variant). Data-modifying CTEs run
    once each, whether or not the final SELECT reads them."""
    tap_table, trip_table = TapRow.__table__, Trip.__table__

    def param(table, prefix: str, name: str) -> str:
        return f"CAST(:{prefix}_{name} AS {_pg_type(table, name)})"

    trip_id = (
        "nextval(pg_get_serial_sequence('transit_trip', 'id'))"
        if new
        else "CAST(:trip_id AS BIGINT)"
    )
    tap_values = [
        "ids.tap_id"
        if name == "id"
        else "ids.trip_id"
        if name == "trip_id"
        else param(tap_table, "tap", name)
        for name in TAP_COLUMNS
    ]
    sql = (
        "WITH ids AS (SELECT nextval(pg_get_serial_sequence('transit_tap', 'id')) AS tap_id, "
        f"{trip_id} AS trip_id), "
        f"tap AS (INSERT INTO transit_tap ({', '.join(TAP_COLUMNS)}) "
        f"SELECT {', '.join(tap_values)} FROM ids)"
    )
    if new:
        trip_values = []
        for name in TRIP_COLUMNS:
            if name == "id":
                trip_values.append("ids.trip_id")
            elif name in ("entry_tap_id", "exit_tap_id"):
                trip_values.append(
                    f"CASE WHEN CAST(:{name}_is_tap AS BOOLEAN) THEN ids.tap_id "
                    f"ELSE {param(trip_table, 'trip', name)} END"
                )
            else:
                trip_values.append(param(trip_table, "trip", name))
        sql += (
            f", trip AS (INSERT INTO transit_trip ({', '.join(TRIP_COLUMNS)}) "
            f"SELECT {', '.join(trip_values)} FROM ids)"
        )
    sql += " SELECT tap_id, trip_id FROM ids"
    binds = [bindparam(f"tap_{c.name}", type_=c.type) for c in tap_table.columns]
    binds += [bindparam(f"trip_{c.name}", type_=c.type) for c in trip_table.columns]
    statement = text(sql)
    used = set(statement._bindparams)  # type hints for the parameters this variant has
    return statement.bindparams(*[b for b in binds if b.key in used])


_PG_TYPES: dict[tuple[str, str], str] = {}


def _pg_type(table, name: str) -> str:
    key = (table.name, name)
    found = _PG_TYPES.get(key)
    if found is None:
        from sqlalchemy.dialects import postgresql

        found = table.c[name].type.compile(dialect=postgresql.dialect())
        _PG_TYPES[key] = found
    return found


def _pg_quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _pg_array(values: Sequence[Any]) -> str:
    """A PostgreSQL array literal (``{1,NULL,"a b"}``) of one column's values, cast to the
    column's array type in SQL: built in one pass, far cheaper than letting the driver adapt a
    list element by element. Strings are always quoted (so "NULL" stays a string)."""
    sample = next((v for v in values if v is not None), None)
    if sample is None:
        return "{" + ",".join(["NULL"] * len(values)) + "}"
    if type(sample) is int:
        return "{" + ",".join(["NULL" if v is None else str(v) for v in values]) + "}"
    if isinstance(sample, datetime | date):
        return "{" + ",".join(["NULL" if v is None else v.isoformat() for v in values]) + "}"
    quoted: dict[Any, str] = {None: "NULL"}  # columns repeat the same few strings
    parts = []
    for v in values:
        q = quoted.get(v)
        if q is None:
            q = quoted[v] = _pg_quote(str(v))
        parts.append(q)
    return "{" + ",".join(parts) + "}"


def _bulk_insert(
    session: Session,
    table,
    rows: Sequence[Mapping[str, Any]],
    *,
    conflict: Sequence[str] = (),
    returning: Sequence[str] = (),
) -> list[tuple]:
    """Insert many rows at once; with ``conflict`` (unique columns) rows that hit them are
    skipped. Returns the ``returning`` columns of the rows inserted.

    PostgreSQL: one ``INSERT … SELECT FROM unnest(arrays) ON CONFLICT DO NOTHING RETURNING`` per
    5,000 rows (a row held by another transaction waits for it: skipped if that commits).
    SQLite: the transaction holds the write lock, so existing keys are looked up first and the
    rest inserted with ``executemany``."""
    if not rows:
        return []
    names = [c.name for c in table.columns if c.name in rows[0]]
    if _dialect(session) == "postgresql":
        arrays = ", ".join(f"CAST(:c{i} AS {_pg_type(table, n)}[])" for i, n in enumerate(names))
        sql = f"INSERT INTO {table.name} ({', '.join(names)}) SELECT * FROM unnest({arrays})"
        if conflict:
            sql += f" ON CONFLICT ({', '.join(conflict)}) DO NOTHING"
        if returning:
            sql += f" RETURNING {', '.join(returning)}"
        statement = text(sql)
        out: list[tuple] = []
        for chunk in _chunks(rows, 5000):
            params = {f"c{i}": _pg_array([row[n] for row in chunk]) for i, n in enumerate(names)}
            result = session.execute(statement, params)
            if returning:
                out.extend(tuple(r) for r in result)
        return out
    fresh = list(rows)
    if conflict:
        key_columns = [table.c[c] for c in conflict]
        existing: set[tuple] = set()
        keys = sorted({tuple(row[c] for c in conflict) for row in rows})
        for chunk in _chunks(keys, 400):
            found = session.execute(select(*key_columns).where(tuple_(*key_columns).in_(chunk)))
            existing.update(tuple(r) for r in found)
        fresh, seen = [], set()
        for row in rows:
            key = tuple(row[c] for c in conflict)
            if key not in existing and key not in seen:
                seen.add(key)
                fresh.append(row)
    if fresh:
        session.execute(insert(table), [{n: row[n] for n in names} for row in fresh])
    return [tuple(row[r] for r in returning) for row in fresh]


def _claim_uses(session: Session, uses: Sequence[dict[str, Any]]) -> set[tuple[int, int]]:
    """Record credential uses (sorted, one lock order); the (serial, counter) pairs inserted.
    A pair not returned was used before — here, online, or at another gate."""
    ordered = sorted(uses, key=lambda u: (u["serial"], u["counter"]))
    rows = _bulk_insert(
        session,
        CredentialUse.__table__,
        ordered,
        conflict=("serial", "counter"),
        returning=("serial", "counter"),
    )
    return {(r[0], r[1]) for r in rows}


def _claim_use(session: Session, use: dict[str, Any]) -> bool:
    """Record one credential use (an online tap); False when its (serial, counter) was used
    before. The same rule as :func:`_claim_uses`, in one ``INSERT … ON CONFLICT DO NOTHING``."""
    return credentials.insert_use(session, use)


def _lock_and_claim(
    session: Session, card_id: int, use: dict[str, Any]
) -> tuple[dict[int, _Holder], bool]:
    """:func:`_lock_holders` for one card, then :func:`_claim_use`, in that lock order. On
    PostgreSQL one statement: the insert reads the locked row, so it runs after the lock."""
    if _dialect(session) != "postgresql":
        return _lock_holders(session, [card_id]), _claim_use(session, use)
    row = session.execute(_lock_and_claim_statement(), {**use, "lock_card_id": card_id}).first()
    if row is None:  # no such card: nothing was locked or inserted
        return {}, False
    holder = _Holder(row.id, row.state, row.city_code, row.birth_date, row.disability_level)
    return {row.id: holder}, bool(row.claimed)


@functools.cache
def _lock_and_claim_statement() -> Any:
    """The SQL of :func:`_lock_and_claim` on PostgreSQL (built once)."""
    use = CredentialUse.__table__
    names = [c.name for c in use.columns if c.name != "id"]
    values = ", ".join(f"CAST(:{n} AS {_pg_type(use, n)})" for n in names)
    statement = text(
        "WITH locked AS ("
        "SELECT card.id, card.state, person.city_code, person.birth_date, person.disability_level"
        " FROM card JOIN person ON person.id = card.person_id"
        " WHERE card.id = :lock_card_id FOR UPDATE OF card), "
        f"claimed AS (INSERT INTO credential_use ({', '.join(names)})"
        f" SELECT {values} FROM locked"
        " ON CONFLICT (serial, counter) DO NOTHING RETURNING id) "
        "SELECT locked.*, (SELECT count(*) FROM claimed) AS claimed FROM locked"
    )
    return statement.bindparams(*[bindparam(n, type_=use.c[n].type) for n in names])


def _use_row(
    serial: int,
    counter: int,
    kind: str,
    card_id: int,
    terminal: Terminal,
    generated_at: datetime,
    now: datetime,
) -> dict[str, Any]:
    return {
        "serial": serial,
        "counter": counter,
        "kind": kind,
        "card_id": card_id,
        "terminal_id": terminal.id,
        "actor_label": f"terminal:{terminal.code}"[:64],
        "scene": "transit",
        "generated_at": generated_at,
        "used_at": now,
    }


# --- the online tap on PostgreSQL: four statements in two round trips, each short and prepared --
#
# 1. The request's nonce, the card (found by its pseudonym unless this process knows it) locked,
#    the credential use, the tap's and trip's ids, and the terminal's status, secret version and
#    placement as they are now (the caches are checked against them) in one statement. 2. The
#    card's history (three JSON arrays in one row). 3. The tap and its new trip (rows as JSON) in
#    one statement. 4. COMMIT. BEGIN, 1 and 2 go in one round trip, 3 and 4 in another (libpq's
#    pipeline mode, one write each: server.pgwire). On a pooled driver connection of its own
#    (`_DriverConnection`): the session's per-statement work costs more than these statements
#    take in the database.

_PG_CLAIM: Final = (
    "WITH nonce AS (INSERT INTO terminal_nonce (terminal_id, nonce, created_at)"
    " VALUES (%(terminal_id)s::bigint, %(nonce)s::varchar, %(used_at)s::timestamptz)"
    " ON CONFLICT (terminal_id, nonce) DO NOTHING RETURNING id), "
    "locked AS (SELECT card.id, card.state, person.city_code, person.birth_date,"
    " person.disability_level FROM card JOIN person ON person.id = card.person_id"
    " WHERE card.id = coalesce(%(card_id)s::bigint, (SELECT card_id FROM card_pseudonym"
    " WHERE pseudonym = %(pseudonym)s::bytea)) AND EXISTS (SELECT FROM nonce) FOR UPDATE OF card), "
    "claimed AS (INSERT INTO credential_use (serial, counter, kind, card_id, terminal_id,"
    " actor_label, scene, generated_at, used_at) SELECT %(serial)s::bigint, %(counter)s::bigint,"
    " %(kind)s::varchar, locked.id, %(terminal_id)s::bigint, %(actor_label)s::varchar,"
    " %(scene)s::varchar, %(generated_at)s::timestamptz, %(used_at)s::timestamptz FROM locked"
    " ON CONFLICT (serial, counter) DO NOTHING RETURNING id), "
    "term AS (SELECT terminal.status, terminal.secret_rotated_at, placement.network_id,"
    " placement.stop_id FROM terminal LEFT JOIN transit_terminal_placement AS placement"
    " ON placement.terminal_id = terminal.id WHERE terminal.id = %(terminal_id)s::bigint) "
    "SELECT (SELECT count(*) FROM nonce), (SELECT count(*) FROM claimed), locked.id,"
    " locked.state, locked.city_code, locked.birth_date, locked.disability_level,"
    " nextval(pg_get_serial_sequence('transit_tap', 'id')),"
    " nextval(pg_get_serial_sequence('transit_trip', 'id')),"
    " term.status, term.secret_rotated_at, term.network_id, term.stop_id"
    " FROM (SELECT 1) AS one LEFT JOIN locked ON true LEFT JOIN term ON true"
)
_PG_REPRICEABLE: Final = (
    "(incomplete IS NOT NULL AND payment_status IN ('pending', 'unpriced')"
    " AND collection_attempted_at IS NULL)"
)
# service_date bounds what the ledger counts; started_at lets the index bound the scan
_PG_RECENT: Final = (
    "started_at >= %(started_from)s::timestamptz AND service_date >= %(since)s::date"
)
_PG_SETTLED: Final = (
    f"card_id = (SELECT id FROM c) AND {_PG_RECENT} AND status <> 'open'"
    f" AND priced_at IS NOT NULL AND NOT {_PG_REPRICEABLE}"
)
_PG_LIVE: Final = (
    "SELECT coalesce(json_agg(t ORDER BY t.started_at, t.id), '[]') FROM transit_trip AS t"
    " WHERE card_id = (SELECT id FROM c) AND (status = 'open'"
    f" OR ({_PG_REPRICEABLE} AND {_PG_RECENT})"
    f" OR (incomplete IS NOT NULL AND NOT {_PG_REPRICEABLE}"
    " AND started_at >= %(first)s::timestamptz"
    f" - interval '{int(LATE_PAIRING.total_seconds())} seconds'"
    " AND NOT EXISTS (SELECT 1 FROM transit_tap AS tp WHERE tp.trip_id = t.id"
    " AND tp.id <> coalesce(t.entry_tap_id, 0) AND tp.id <> coalesce(t.exit_tap_id, 0))))"
)
_PG_TOTALS: Final = (
    "SELECT coalesce(json_agg(json_build_array(card_id, service_date, city_code, mode, charged,"
    " paid)), '[]') FROM (SELECT card_id, service_date, city_code, mode,"
    " sum(charged_fen) AS charged, count(*) FILTER (WHERE charged_fen > 0) AS paid"
    f" FROM transit_trip WHERE {_PG_SETTLED} GROUP BY card_id, service_date, city_code, mode)"
    " AS totals"
)


def _pg_origins(bounded: bool) -> str:
    after = "ended_at >= %(first)s::timestamptz"
    return (
        f"SELECT coalesce(json_agg(json_build_array({', '.join(_LEDGER_COLUMNS)}) ORDER BY id),"
        f" '[]') FROM (SELECT {', '.join(_LEDGER_COLUMNS)}, {after} AS after,"
        f" row_number() OVER (PARTITION BY {after} ORDER BY ended_at DESC, id DESC) AS rank"
        f" FROM transit_trip WHERE {_PG_SETTLED} AND ended_at IS NOT NULL"
        + (" AND ended_at >= %(oldest)s::timestamptz" if bounded else "")
        + ") AS recent WHERE after OR rank = 1"
    )


# The card's history in one statement and one row: three JSON arrays (see _Trips.load). The card
# is given, or found by its pseudonym (as statement 1 finds it: the two are sent together).
_PG_CARD: Final = (
    "WITH c AS MATERIALIZED (SELECT coalesce(%(card)s::bigint, (SELECT card_id FROM card_pseudonym"
    " WHERE pseudonym = %(pseudonym)s::bytea)) AS id) "
)
_PG_LOAD: Final = {
    bounded: f"{_PG_CARD}SELECT ({_PG_LIVE}), ({_PG_TOTALS}), ({_pg_origins(bounded)})"
    for bounded in (True, False)
}
_PG_INSERT: Final = (
    "WITH tap AS (INSERT INTO transit_tap SELECT r.* FROM"
    " jsonb_populate_record(NULL::transit_tap, %(tap)s::jsonb) AS r)"
    " INSERT INTO transit_trip SELECT r.* FROM"
    " jsonb_populate_recordset(NULL::transit_trip, %(trips)s::jsonb) AS r"
)
_PG_UPDATE_TRIP: Final = (
    f"UPDATE transit_trip SET ({', '.join(c for c in TRIP_COLUMNS if c != 'id')}) ="
    f" (SELECT {', '.join('r.' + c for c in TRIP_COLUMNS if c != 'id')}"
    " FROM jsonb_populate_record(NULL::transit_trip, %(row)s::jsonb) AS r)"
    " WHERE id = %(id)s::bigint"
)
_PG_CLAIM_STATEMENT: Final = pgwire.Statement("ssc_tap_claim", _PG_CLAIM)
_PG_LOAD_STATEMENTS: Final = {
    bounded: pgwire.Statement(f"ssc_tap_load_{int(bounded)}", sql)
    for bounded, sql in _PG_LOAD.items()
}
_PG_INSERT_STATEMENT: Final = pgwire.Statement("ssc_tap_insert", _PG_INSERT)
_PG_UPDATE_STATEMENT: Final = pgwire.Statement("ssc_tap_update_trip", _PG_UPDATE_TRIP)
_PG_LATE_JOIN_STATEMENT: Final = pgwire.Statement(
    "ssc_tap_late_join",
    "INSERT INTO transit_late_join (trip_id, created_at) "
    "VALUES (CAST(%(trip)s AS BIGINT), CAST(%(at)s AS TIMESTAMPTZ))",
)
_TRIP_MOMENTS: Final = frozenset(
    c.name for c in Trip.__table__.columns if isinstance(c.type, UTCDateTime)
)


def _moment(value: str | None) -> datetime | None:
    """A timestamptz from PostgreSQL's JSON (ISO 8601 with an offset), in UTC."""
    return None if value is None else datetime.fromisoformat(value).astimezone(UTC)


def _day(value: str | None) -> date | None:
    return None if value is None else date.fromisoformat(value)


def _json(value: Any) -> str:
    """Compact JSON for a ``::jsonb`` parameter (orjson writes datetimes and dates in ISO 8601, as
    ``isoformat`` does, about ten times faster than the standard library)."""
    return orjson.dumps(value).decode()


@dataclass(slots=True)
class _Claimed:
    nonce_ok: bool
    claimed: bool
    card_id: int | None
    holders: dict[int, _Holder]
    tap_id: int
    trip_id: int
    live: list[dict[str, Any]]
    totals: list[tuple]
    origins: list[tuple]
    # the terminal's row as it is now (statement 1 re-checks what the caches hold)
    terminal_status: str | None
    secret_rotated_at: datetime | None
    placement: tuple[str | None, str | None]


def _pg_claim_and_load(
    raw: Any,
    *,
    nonce: str,
    use: dict[str, Any],
    pseudonym: bytes,
    since: date,
    first: datetime,
    table: FareTable,
) -> _Claimed:
    """The first two statements of an online tap on PostgreSQL (see above), sent together with
    the transaction's BEGIN in one round trip (:mod:`server.pgwire`). ``use["card_id"]`` may be
    None: both statements find the card by ``pseudonym``. In READ COMMITTED the second takes its
    snapshot after the first holds the card lock, so the history it reads includes every trip
    committed by a transaction that held the lock before. The history is ignored when statement 1
    locked no card. ``raw``: the psycopg connection (its transaction is the tap's)."""
    window = _transfer_window(table)
    oldest = first - window if window is not None else None
    load = {
        "card": use["card_id"],
        "pseudonym": pseudonym,
        "since": since,
        "started_from": _started_from(since),
        "first": first,
        "oldest": oldest,
    }
    _, (head,), (history,) = pgwire.run(
        raw,
        [
            ("BEGIN", None),
            (_PG_CLAIM_STATEMENT, {**use, "nonce": nonce, "pseudonym": pseudonym}),
            (_PG_LOAD_STATEMENTS[oldest is not None], load),
        ],
    )
    (nonce_ok, claimed, card_id, state, city, birth, disability, tap_id, trip_id,
     status, rotated, network_id, stop_id) = head  # fmt: skip
    holders = {}
    live: list[dict[str, Any]] = []
    totals: list[tuple] = []
    origins: list[tuple] = []
    if card_id is not None:
        holders[card_id] = _Holder(card_id, state, city, birth, disability)
        live, raw_totals, raw_origins = history  # the connection parses json into lists
        for row in live:
            for name in _TRIP_MOMENTS:
                row[name] = _moment(row[name])
            row["service_date"] = _day(row["service_date"])
        totals = [(card, _day(day), *rest) for card, day, *rest in raw_totals]
        origins = [
            (card, key, network, mode, city_code, _day(day), _moment(ended_at), *rest)
            for card, key, network, mode, city_code, day, ended_at, *rest in raw_origins
        ]
    return _Claimed(
        bool(nonce_ok), bool(claimed), card_id, holders, tap_id, trip_id, live, totals, origins,
        status, rotated, (network_id, stop_id),
    )  # fmt: skip


def _pg_write_and_commit(raw: Any, tap: dict[str, Any], trips: _Trips) -> None:
    """The last statements of an online tap on PostgreSQL: the tap and its new trips in one
    statement, changed trips, COMMIT, sent in one round trip (on the psycopg connection ``raw``,
    through :mod:`server.pgwire`)."""
    params = {
        "tap": _json({c: tap[c] for c in TAP_COLUMNS}),
        "trips": _json([_only(t, TRIP_COLUMNS) for t in trips.new]),
    }
    steps: list[pgwire.Step] = [(_PG_INSERT_STATEMENT, params)]
    for trip_id, trip in trips.changed.items():
        steps.append(
            (_PG_UPDATE_STATEMENT, {"id": trip_id, "row": _json(_only(trip, TRIP_COLUMNS))})
        )
    for trip_id in trips.joined:  # rare: a tap joined a charged trip late
        steps.append((_PG_LATE_JOIN_STATEMENT, {"trip": trip_id, "at": trips.now}))
    steps.append(("COMMIT", None))
    pgwire.run(raw, steps)
    trips.new.clear()
    trips.changed.clear()
    trips.joined.clear()


# --- pseudonyms and the verifiers -----------------------------------------------------------------

_PSEUDONYM_CARD: dict[bytes, int] = {}  # a pseudonym never moves to another card
_PSEUDONYM_CACHE_MAX: Final = 500_000


def _cards_for_pseudonyms(session: Session, pseudonyms: Iterable[bytes]) -> dict[bytes, int]:
    wanted = set(pseudonyms)
    found = {p: _PSEUDONYM_CARD[p] for p in wanted if p in _PSEUDONYM_CARD}
    missing = sorted(wanted - found.keys())
    for chunk in _chunks(missing):
        for pseudonym, card_id in session.execute(
            select(CardPseudonym.pseudonym, CardPseudonym.card_id).where(
                CardPseudonym.pseudonym.in_(chunk)
            )
        ):
            found[bytes(pseudonym)] = card_id
    if len(_PSEUDONYM_CARD) + len(found) > _PSEUDONYM_CACHE_MAX:
        _PSEUDONYM_CARD.clear()
    _PSEUDONYM_CARD.update(found)
    return found


def _card_pseudonyms() -> dict[int, bytes]:
    """card id → pseudonym, per app (a card keeps its pseudonym for good; card ids are only
    unique within one database, so the map lives with the app bound to it)."""
    found = current_app.extensions.get("ssc.transit.card_pseudonyms")
    if found is None:
        found = current_app.extensions.setdefault("ssc.transit.card_pseudonyms", {})
    return found


def _card_listing(session: Session, card_id: int, now: datetime) -> str | None:
    """Why the card's pseudonym is on the revocation list (transit ``debt``; lost, sealed…), as
    an online QR tap of the card sees it: the process's cached list (:class:`VerifierCache`, as
    fresh as ``SSC_VERIFIER_REFRESH_S``), so a physical card and its QR code get the same answer.
    Costs one primary-key lookup the first time a process sees the card while the list is not
    empty; None when the card is not listed."""
    listed = credentials.verifier_cache().get(session, now).revocation_list.pseudonyms
    if not listed:
        return None
    known = _card_pseudonyms()
    pseudonym = known.get(card_id)
    if pseudonym is None:
        found = session.execute(
            select(CardPseudonym.pseudonym).where(CardPseudonym.card_id == card_id)
        ).scalar_one_or_none()
        if found is None:
            return None  # never had a code nor a listing (a listing creates the pseudonym)
        pseudonym = bytes(found)
        if len(known) >= _PSEUDONYM_CACHE_MAX:
            known.clear()
        known[card_id] = pseudonym
    if pseudonym not in listed:
        return None
    return listed[pseudonym] or "pseudonym"


class _BatchVerifier:
    """The server's trust list with an *empty* revocation list: a batch checks revocation against
    the log as it was at each tap's time instead. Kept per process (certificate cache warm)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._verifier: Verifier | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._pid = 0

    def get(self, session: Session, now: datetime) -> Verifier:
        trust = credentials.verifier_cache().get(session, now).trust_list
        with self._lock:
            if self._verifier is None:
                self._verifier = Verifier(
                    trust,
                    RevocationList(),
                    None,
                    clock_skew_s=int(_setting("SSC_CREDENTIAL_CLOCK_SKEW_S", 30)),
                    presentation_ttl_s=int(_setting("SSC_PRESENTATION_TTL_S", 60)),
                    cert_cache_size=65_536,
                )
            elif self._verifier.trust_list is not trust:
                self._verifier.update_lists(trust_list=trust)
            return self._verifier

    def pool(self) -> ThreadPoolExecutor:
        """Threads for signature checks (OpenSSL runs without the GIL); made after a fork."""
        with self._lock:
            if self._pool is None or self._pid != os.getpid():
                self._pool = ThreadPoolExecutor(
                    max_workers=max(2, os.cpu_count() or 2), thread_name_prefix="tap-verify"
                )
                self._pid = os.getpid()
            return self._pool


def _batch_verifier() -> _BatchVerifier:
    holder = current_app.extensions.get("ssc.transit.batch_verifier")
    if holder is None:
        holder = current_app.extensions.setdefault("ssc.transit.batch_verifier", _BatchVerifier())
    return holder


def _verify_all(
    holder: _BatchVerifier, verifier: Verifier, items: Sequence[tuple[str, datetime]]
) -> list[Accepted | str]:
    """Check every (text, tapped_at); an :class:`Accepted` or a refusal code each, in order."""

    def run(part: Sequence[tuple[str, datetime]]) -> list[Accepted | str]:
        out: list[Accepted | str] = []
        check = verifier.check_only
        for text_, at in part:
            try:
                out.append(check(text_, scene=Scene.TRANSIT, now=at))
            except Refused as exc:
                out.append(exc.code)
        return out

    if len(items) < _PARALLEL_VERIFY_MIN:
        return run(items)
    workers = max(2, os.cpu_count() or 2)
    size = -(-len(items) // workers)
    parts = [items[i : i + size] for i in range(0, len(items), size)]
    results: list[Accepted | str] = []
    for part in holder.pool().map(run, parts):
        results.extend(part)
    return results


# Listing reasons under which a ride a gate accepted with an older list is still the holder's own:
# it is charged (and flagged for review). Any other reason refuses the tap at upload.
CHARGED_WHEN_LISTED: Final = frozenset({"debt"})


class _RevocationHistory:
    """The revocation log of some serials and pseudonyms, to ask "was it revoked at T?"."""

    def __init__(self, session: Session, serials: Iterable[int], pseudonyms: Iterable[bytes]):
        self.events: dict[tuple[str, str], list[tuple[datetime, str, str, datetime | None]]] = (
            defaultdict(list)
        )
        wanted = [("serial", str(s)) for s in sorted(set(serials))]
        wanted += [("pseudonym", p.hex()) for p in sorted(set(pseudonyms))]
        by_kind: dict[str, list[str]] = defaultdict(list)
        for kind, value in wanted:
            by_kind[kind].append(value)
        event = RevocationEvent
        for kind, values in by_kind.items():
            for chunk in _chunks(values):
                rows = session.execute(
                    select(event.value, event.op, event.reason, event.expires_at, event.created_at)
                    .where(event.kind == kind, event.value.in_(chunk))
                    .order_by(event.id)
                )
                for value, op, reason, expires_at, created_at in rows:
                    self.events[(kind, value)].append((created_at, op, reason, expires_at))

    def _state(self, kind: str, value: str, at: datetime) -> str | None:
        state: tuple[str, datetime | None] | None = None
        for created_at, op, reason, expires_at in self.events.get((kind, value), ()):
            if created_at > at:
                break
            state = (reason, expires_at) if op == "add" else None
        if state is None or (state[1] is not None and state[1] <= at):
            return None
        return state[0] or kind

    def listed(self, pseudonym: bytes, at: datetime) -> str | None:
        """The deny reason if the pseudonym was listed at ``at``."""
        return self._state("pseudonym", pseudonym.hex(), at)

    def revoked(self, serial: int, pseudonym: bytes, at: datetime) -> str | None:
        """The deny reason if the serial or the pseudonym was listed at ``at``."""
        if not self.events:
            return None
        return self._state("serial", str(serial), at) or self._state(
            "pseudonym", pseudonym.hex(), at
        )


def _state_at(session: Session, card_id: int, current: str, at: datetime) -> str:
    """The card's state at ``at`` (from its events); ``current`` when nothing changed since."""
    row = session.execute(
        select(CardEvent.to_state)
        .where(CardEvent.card_id == card_id, CardEvent.at <= at)
        .order_by(CardEvent.at.desc(), CardEvent.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    return row if row is not None else current


# --- online taps ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CardAnswer:
    """A physical card's answer to the terminal's challenge."""

    serial: str
    challenge: bytes
    counter: int
    mac: bytes


@dataclass(frozen=True)
class TapIn:
    kind: str
    medium: str
    code: str | None = None
    card: CardAnswer | None = None
    stop_id: str | None = None
    amount_fen: int | None = None
    tapped_at: datetime | None = None


@dataclass(frozen=True)
class TapOutcome:
    tap_id: int
    trip: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class _Placement:
    """Where a terminal stands (a read-only copy of its ``TerminalPlacement``)."""

    terminal_id: int
    network_id: str
    stop_id: str | None


def _placement(session: Session, terminal: Terminal, *, revalidated: bool = False) -> _Placement:
    """The terminal's placement (kept a moment by :class:`_OnlineCache` when it is on; up to
    :data:`_REVALIDATED_PLACEMENT_S` when the caller checks it again in its transaction)."""
    cache = _online_cache()
    found = None
    if cache is not None:
        found = cache.placement(
            terminal.id, max(cache.ttl, _REVALIDATED_PLACEMENT_S) if revalidated else None
        )
    if found is not None:
        return found
    table = TerminalPlacement.__table__
    row = session.execute(
        select(table.c.network_id, table.c.stop_id).where(table.c.terminal_id == terminal.id)
    ).first()
    if row is None:
        raise DomainError("transit.not_placed")
    placement = _Placement(terminal.id, row.network_id, row.stop_id)
    if cache is not None:
        cache.keep_placement(placement)
    return placement


def _static_checks(
    terminal_kind: str,
    placement: TerminalPlacement | _Placement,
    *,
    kind: str,
    medium: str,
    stop_id: str | None,
    amount_fen: int | None,
    tapped_at: datetime,
    now: datetime,
    skew: timedelta,
) -> str | None:
    """The first problem a tap has before anyone looks at its code or card, or None."""
    allowed = TAP_KINDS.get(TerminalKind(terminal_kind), frozenset())
    if kind not in allowed:
        return "transit.kind_not_allowed"
    if medium not in MEDIA:
        return "request.validation_failed"
    if stop_id is not None and stop_id != placement.stop_id:
        return "transit.wrong_station"
    if tapped_at > now + skew:
        return "transit.tap_in_future"
    if kind == "taxi" and amount_fen is None:
        return "transit.amount_required"
    return None


def _card_cap_fen() -> int:
    """A physical card's per-use cap for metered fares (the small-amount password-free limit)."""
    return int(_setting("SSC_ECARD_PER_USE_CAP_FEN", 20_000))


def record_tap(
    session: Session,
    terminal: Terminal,
    tap: TapIn,
    now: datetime,
    *,
    clock_skew_s: int = 300,
    nonce: str | None = None,
) -> TapOutcome:
    """Decide an online tap and record it with its trip, in one transaction (committed here);
    a refusal raises ``DomainError`` and writes nothing (but a listed card's spent chip counter, see
    the module docstring). ``nonce``: the signed request's nonce,
    recorded here (``terminal.nonce_reused`` when it was used before); on PostgreSQL a QR tap
    records it in the same statement as the card lock and the credential use.

    With ``nonce`` (a request under ``require_terminal(defer_nonce=True)``) the terminal's status
    and secret version are re-checked in this transaction, so a terminal disabled anywhere is
    refused from the next tap on; on PostgreSQL a QR tap does that, and checks the cached
    placement, in its first statement (a placement changed meanwhile: the tap starts again)."""
    for _attempt in range(2):
        try:
            return _record_tap(session, terminal, tap, now, clock_skew_s, nonce)
        except _PlacementMoved:
            pass  # nothing was written (the fast path's connection was rolled back)
    return _record_tap(session, terminal, tap, now, clock_skew_s, nonce, trust_cache=False)


_KEEPER: Final = pgwire.Keeper()


class _DriverConnection:
    """The online QR tap's own psycopg connection on PostgreSQL (not the session's: the session's
    per-statement and per-transaction work costs more than the tap's statements take in the
    database), kept checked out between taps by :data:`_KEEPER`. :meth:`close` hands it back; one
    left inside a transaction goes back to the pool, which rolls it back. Each connection parses
    JSON with orjson (the card's history arrives as JSON arrays)."""

    def __init__(self, engine: Any) -> None:
        self._engine = engine
        self._pooled: Any = None

    def get(self) -> Any:
        if self._pooled is None:
            idle_s = current_app.config.get("SSC_DB_PING_IDLE_S") or 0.0
            self._pooled, new = _KEEPER.take(self._engine, idle_s)
            if new:
                from psycopg.types.json import set_json_loads

                set_json_loads(orjson.loads, self._pooled.driver_connection)
        return self._pooled.driver_connection

    def close(self) -> None:
        pooled, self._pooled = self._pooled, None
        if pooled is not None:
            _KEEPER.give_back(self._engine, pooled)


class _PlacementMoved(Exception):
    """The terminal's placement changed after this process cached it."""


def _record_tap(
    session: Session,
    terminal: Terminal,
    tap: TapIn,
    now: datetime,
    clock_skew_s: int,
    nonce: str | None,
    *,
    trust_cache: bool = True,
) -> TapOutcome:
    # The app's scoped session would be created just to name its engine: ask the extension.
    bind = db.engine if session is db.session else session.get_bind()
    fast = (
        nonce is not None
        and tap.medium == "qr"
        and trust_cache
        and bind.dialect.name == "postgresql"
    )
    if fast:
        raw = _DriverConnection(bind)
        try:
            return _record_tap_body(session, terminal, tap, now, clock_skew_s, nonce, raw)
        finally:
            raw.close()
    return _record_tap_body(session, terminal, tap, now, clock_skew_s, nonce, None)


def _record_tap_body(
    session: Session,
    terminal: Terminal,
    tap: TapIn,
    now: datetime,
    clock_skew_s: int,
    nonce: str | None,
    raw: _DriverConnection | None,
) -> TapOutcome:
    """:func:`record_tap`'s one attempt; ``raw``: the PostgreSQL fast path's connection."""
    fast = raw is not None
    if nonce is not None and not fast:
        from server.terminals.service import check_terminal_current, claim_nonce

        claim_nonce(session, terminal.id, nonce, now)
        check_terminal_current(session, terminal)
    # The fast path re-reads the placement in its first statement: it may trust an older copy.
    placement = _placement(session, terminal, revalidated=fast)
    tapped_at = tap.tapped_at or now
    problem = _static_checks(
        terminal.kind,
        placement,
        kind=tap.kind,
        medium=tap.medium,
        stop_id=tap.stop_id,
        amount_fen=tap.amount_fen,
        tapped_at=tapped_at,
        now=now,
        skew=timedelta(seconds=clock_skew_s),
    )
    if problem is not None:
        raise DomainError(problem)
    table = fare_table(session)
    network = table.networks.get(placement.network_id)
    if network is None:
        raise DomainError("transit.unknown_network", network_id=placement.network_id)
    stop_id = placement.stop_id

    if tap.medium == "qr":
        if not tap.code:
            raise DomainError("credential.malformed")
        verifier = credentials.verifier_cache().get(session, now)
        try:
            accepted = verifier.check_only(tap.code, scene=Scene.TRANSIT, now=now)
        except Refused as exc:
            raise DomainError(f"credential.{exc.code}", reason=exc.reason) from None
        if fast:  # statement 1 finds the card when this process does not know it yet
            card_id = _PSEUDONYM_CARD.get(accepted.pseudonym)
        else:
            card_id = _cards_for_pseudonyms(session, [accepted.pseudonym]).get(accepted.pseudonym)
            if card_id is None:
                raise DomainError("transit.no_card")
        generated = datetime.fromtimestamp(accepted.generated_at, now.tzinfo)
        use = _use_row(
            accepted.serial, accepted.counter, accepted.kind, card_id, terminal, generated, now
        )
        # The use is inserted with the lock (one round trip); a refusal below rolls it back.
        if fast:
            from server.terminals.service import stale_terminal_problem

            day = local_date(tapped_at)
            claim = _pg_claim_and_load(
                raw.get(),  # type: ignore[union-attr]
                nonce=nonce,  # type: ignore[arg-type]
                use=use,
                pseudonym=accepted.pseudonym,
                since=_history_since(day),
                first=tapped_at,
                table=table,
            )
            stale = stale_terminal_problem(terminal, claim.terminal_status, claim.secret_rotated_at)
            if stale is not None:
                raise DomainError(stale)
            if claim.placement != (placement.network_id, placement.stop_id):
                _forget_placement(terminal.id)
                raise _PlacementMoved
            if not claim.nonce_ok:
                raise DomainError("terminal.nonce_reused")
            if claim.card_id is None:
                raise DomainError("transit.no_card")
            card_id = claim.card_id
            if len(_PSEUDONYM_CARD) >= _PSEUDONYM_CACHE_MAX:
                _PSEUDONYM_CARD.clear()
            _PSEUDONYM_CARD[accepted.pseudonym] = card_id
            use["card_id"] = card_id
            holders, claimed = claim.holders, claim.claimed
        else:
            holders, claimed = _lock_and_claim(session, card_id, use)
        if tap.kind == "taxi" and (tap.amount_fen or 0) > accepted.per_use_cap_fen:
            raise DomainError("transit.amount_over_cap", per_use_cap_fen=accepted.per_use_cap_fen)
        if not claimed:
            raise DomainError("credential.replayed")
        serial, counter = accepted.serial, accepted.counter
    else:
        answer = tap.card
        if answer is None:
            raise DomainError("chip.bad_mac")
        card = chip.authenticate_card_tap(
            session,
            serial=answer.serial,
            challenge=answer.challenge,
            counter=answer.counter,
            mac=answer.mac,
            now=now,
        )
        card_id = card.id
        listed = _card_listing(session, card_id, now)
        if listed is not None:
            # Refused as a QR code of the card is (one message at the gate). The chip's answer was
            # genuine: its counter stays spent (committed with the request's nonce), so the same
            # answer cannot ride after the listing is lifted; no tap, no trip, no credential use.
            session.commit()
            raise DomainError("credential.revoked", reason=listed)
        holders = _lock_holders(session, [card_id])
        if tap.kind == "taxi" and (tap.amount_fen or 0) > _card_cap_fen():
            raise DomainError("transit.amount_over_cap", per_use_cap_fen=_card_cap_fen())
        use = _use_row(-card_id, answer.counter, CARD_USE_KIND, card_id, terminal, now, now)
        if not _claim_use(session, use):
            raise DomainError("chip.counter_replayed")
        serial, counter = None, answer.counter

    trips = _Trips(table, holders, now, reentry=reentry_window())
    if fast:
        trips.absorb(claim.live, claim.totals, claim.origins)
    else:
        day = local_date(tapped_at)
        trips.load(session, _history_since(day), tapped_at)
    row = {
        "id": claim.tap_id if fast else _UNASSIGNED,  # else allocated with its trip's, below
        "terminal_id": terminal.id,
        "local_seq": None,
        "batch_id": None,
        "medium": tap.medium,
        "credential_serial": serial,
        "credential_counter": counter,
        "card_id": card_id,
        "kind": tap.kind,
        "network_id": network.network_id,
        "stop_id": stop_id,
        "amount_fen": tap.amount_fen if tap.kind == "taxi" else None,
        "tapped_at": tapped_at,
        "received_at": now,
        "result": ACCEPTED,
        "code": None,
        "trip_id": None,
    }
    try:
        trip = trips.apply(row, network, row["amount_fen"])
    except _Refuse as exc:
        raise DomainError(exc.code) from None
    if fast:
        trip_ids = [claim.trip_id]
        if len(trips.new) > 1:  # not seen so far: one tap opens or closes one trip
            trip_ids += _allocate_ids(session, "transit_trip", len(trips.new) - 1)
        for new_trip, trip_id in zip(trips.new, trip_ids, strict=False):
            new_trip["id"] = trip_id
        _fill_tap_id(trips, claim.tap_id)
        row["trip_id"] = trip["id"]
        _pg_write_and_commit(raw.get(), row, trips)  # type: ignore[union-attr]
        return TapOutcome(tap_id=claim.tap_id, trip=trip)
    if _dialect(session) == "postgresql" and len(trips.new) <= 1:
        # One statement allocates the ids and inserts the tap and its new trip (if any).
        _insert_online_tap(session, row, trip, new=bool(trips.new))
        tap_id = row["id"]
        _fill_tap_id(trips, tap_id)
        trips.new.clear()  # written
    else:
        tap_id, trip_ids = _allocate_tap_and_trip_ids(session, len(trips.new))
        row["id"] = tap_id
        for new_trip, trip_id in zip(trips.new, trip_ids, strict=True):
            new_trip["id"] = trip_id
        _fill_tap_id(trips, tap_id)
        row["trip_id"] = trip["id"]
        session.execute(insert(TapRow.__table__), [row])
    trips.write(session)
    session.commit()
    return TapOutcome(tap_id=tap_id, trip=trip)


# --- pricing glue for one trip --------------------------------------------------------------------


def _row_of(trip: Trip) -> dict[str, Any]:
    """A stored trip (ORM row) as the trip row the pricing works on."""
    return {c: getattr(trip, c) for c in TRIP_COLUMNS}


def price_trip(session: Session, trip: Trip, now: datetime) -> Trip:
    """Price a closed trip (ORM row) from the registry and the card's earlier rides; stores the
    breakdown on it with ``payment_status="pending"`` (``unpriced`` if the fare data cannot)."""
    row = _row_of(trip)
    _price_in_context(session, trip, row, now)
    for name in TRIP_COLUMNS:
        if name != "id":
            setattr(trip, name, row[name])
    return trip


def complete_charged_trip(
    session: Session, trip: Trip, late: TapRow, now: datetime
) -> dict[str, Any]:
    """The ride a charged incomplete trip and the tap that joined it late make
    (:meth:`_Trips._join_charged`), priced as it would have been had the tap come in time: the
    rider's categories on the day, and the card's rides before it for caps, the volume discount
    and transfers. Returns the completed trip row; writes nothing (the fare adjustment does). A
    row the fare data cannot price comes back ``unpriced``."""
    row = _row_of(trip)
    if trip.incomplete == "no_exit":
        row.update(ended_at=late.tapped_at, to_stop_id=late.stop_id, exit_tap_id=late.id)
    else:
        row.update(
            started_at=late.tapped_at,
            service_date=local_date(late.tapped_at),
            from_stop_id=late.stop_id,
            entry_tap_id=late.id,
        )
    row.update(status=COMPLETE, incomplete=None)
    _price_among_earlier(session, trip, row, now)
    return row


def reprice_later_ride(session: Session, trip: Trip, now: datetime) -> dict[str, Any]:
    """A charged ride priced again among the card's rides that started before it, as they are now
    (one of them was completed after the fact, so it may now be a transfer origin). Returns the
    trip row with the new price; writes nothing (the fare adjustment keeps it only if lower)."""
    row = _row_of(trip)
    _price_among_earlier(session, trip, row, now)
    return row


def later_rides(session: Session, trip: Trip) -> list[int]:
    """Ids of the card's charged rides, oldest first, that a transfer from ``trip`` could reach:
    started after it and, if transfers have a time limit, within the longest one of its end (or
    its start, for a ride without an end); without one, on its service day."""
    window = _transfer_window(fare_table(session))
    if window == timedelta(0):
        return []  # the fare data has no transfers
    t = Trip.__table__.c
    where = [
        t.card_id == trip.card_id,
        t.started_at > trip.started_at,
        t.id != trip.id,
        t.status != OPEN,
        t.priced_at.is_not(None),
        t.charged_fen > 0,
    ]
    if window is None:
        where.append(t.service_date == trip.service_date)
    else:
        where.append(t.started_at <= (trip.ended_at or trip.started_at) + window)
    return list(session.execute(select(t.id).where(*where).order_by(t.started_at, t.id)).scalars())


def _price_among_earlier(session: Session, trip: Trip, row: dict[str, Any], now: datetime) -> None:
    """Price ``row`` in place as a tap in time would have been priced: among the card's settled
    rides that started before it (as they are now), from the month of its start on, the card
    locked. Rides after it do not count, as they had not happened: a price set after the fact
    takes no cap, volume discount or transfer from them."""
    holders = _lock_holders(session, [trip.card_id])
    table = fare_table(session)
    day = local_date(row["started_at"])
    since = _history_since(day)
    t = Trip.__table__.c
    earlier = session.execute(
        select(
            *(t[name] for name in _LEDGER_COLUMNS),
            t.incomplete,
            t.payment_status,
            t.collection_attempted_at,
        ).where(
            t.card_id == trip.card_id,
            t.service_date >= since,
            t.started_at >= _started_from(since),
            t.started_at < row["started_at"],
            t.id != trip.id,
            t.status != OPEN,
            t.priced_at.is_not(None),
        )
    ).mappings()
    ledger = _Ledger()
    for ride in earlier:
        if ride["incomplete"] is not None and _repriceable(ride):
            continue  # not settled: a later tap may still change it
        ledger.add(_ride(dict(ride)))
    _price_row(row, holders[trip.card_id], ledger, table, now)


def _price_in_context(session: Session, trip: Trip, row: dict[str, Any], now: datetime) -> None:
    """Price ``row`` (the stored ``trip``) in place, among the card's other rides from the month of
    its start on (locked): the trip's own stored fare is taken out of what was loaded first, so
    it is not counted against itself."""
    holders = _lock_holders(session, [trip.card_id])
    table = fare_table(session)
    day = local_date(row["started_at"])
    trips = _Trips(table, holders, now, reentry=reentry_window())
    trips.load(session, _history_since(day), row["started_at"])
    ledger = trips.ledgers[trip.card_id]
    if trip.id is not None and trip.priced_at is not None and trip.status != OPEN:
        ledger.remove(trip.id)  # loaded as a transfer origin, or re-priceable
        stored = {c: getattr(trip, c) for c in ("payment_status", "collection_attempted_at")}
        if trip.incomplete is None or not _repriceable(stored):
            # counted in the loaded totals, on the day it was charged for: take its fare out
            old = trip.charged_fen or 0
            ledger.add_totals(trip.service_date, trip.city_code, trip.mode, -old, -(old > 0))
    _price_row(row, holders[trip.card_id], ledger, table, now)


def close_open_trips(session: Session, now: datetime, *, limit: int = 5000) -> int:
    """Entries (and bicycle rentals) open longer than their network's exit timeout become
    incomplete ``no_exit`` trips, priced per the fare rules. Returns how many were closed."""
    table = fare_table(session)
    shortest = min(
        [exit_timeout(table, n) for n in table.networks] or [exit_timeout(table, "")],
    )
    trip = Trip.__table__
    candidates = session.execute(
        select(trip.c.id, trip.c.card_id, trip.c.network_id, trip.c.started_at)
        .where(trip.c.status == OPEN, trip.c.started_at < now - shortest)
        .order_by(trip.c.card_id, trip.c.id)
        .limit(limit)
    ).all()
    due = [c for c in candidates if now - c.started_at > exit_timeout(table, c.network_id)]
    if not due:
        return 0
    holders = _lock_holders(session, [c.card_id for c in due])
    due_ids = {c.id for c in due}
    trips = _Trips(table, holders, now, reentry=reentry_window())
    oldest = local_date(min(c.started_at for c in due))
    trips.load(
        session,
        _history_since(oldest),
        min(c.started_at for c in due),
    )
    closed = 0
    for key, row in sorted(trips.open.items(), key=lambda item: item[1]["started_at"]):
        if row["id"] in due_ids and row["status"] == OPEN:
            del trips.open[key]
            trips._close_no_exit(key, row)
            closed += 1
    trips.write(session)
    session.commit()
    return closed


# --- offline batches ------------------------------------------------------------------------------


@dataclass(slots=True)
class _BatchTap:
    index: int
    local_seq: int | None
    kind: str
    medium: str
    code: str | None
    card: CardAnswer | None
    stop_id: str | None
    amount_fen: int | None
    tapped_at: datetime | None
    result: str | None = None
    error: str | None = None
    tap_id: int | None = None
    trip_id: int | None = None
    card_id: int | None = None
    serial: int | None = None
    counter: int | None = None
    accepted: Accepted | None = None
    use: dict[str, Any] | None = None
    listed: str | None = None  # accepted offline although listed then (a charged reason)

    def refuse(self, code: str) -> None:
        self.result, self.error = REFUSED, code

    def out(self) -> dict[str, Any]:
        return {
            "local_seq": self.local_seq,
            "result": self.result,
            "code": self.error,
            "tap_id": self.tap_id,
            "trip_id": self.trip_id,
        }


def _as_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return moment if moment.tzinfo is not None else None


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def _card_answer(value: Any) -> CardAnswer | None:
    if isinstance(value, CardAnswer):
        return value
    if not isinstance(value, Mapping):
        return None
    try:
        serial = value["serial"]
        counter = _as_int(value["counter"])
        challenge = bytes.fromhex(value["challenge"])
        mac = bytes.fromhex(value["mac"])
    except (KeyError, TypeError, ValueError):
        return None
    if not isinstance(serial, str) or counter is None or not 0 <= counter <= chip.COUNTER_MAX:
        return None
    if len(challenge) != chip.CHALLENGE_LEN or len(mac) != chip.MAC_LEN:
        return None
    return CardAnswer(serial=serial, challenge=challenge, counter=counter, mac=mac)


def _parse_batch_tap(index: int, raw: Any) -> _BatchTap:
    """One uploaded tap (a mapping as in the API, ``tapped_at`` a datetime or ISO 8601 text);
    a tap that cannot be read is refused with ``request.validation_failed``."""
    data = raw if isinstance(raw, Mapping) else {}
    seq = _as_int(data.get("local_seq"))
    tap = _BatchTap(
        index=index,
        local_seq=seq if seq is not None and seq >= 0 else None,
        kind=str(data.get("kind") or "")[:12],
        medium=str(data.get("medium") or "")[:8],
        code=data.get("code") if isinstance(data.get("code"), str) else None,
        card=_card_answer(data.get("card")),
        stop_id=data.get("stop_id") if isinstance(data.get("stop_id"), str) else None,
        amount_fen=_as_int(data.get("amount_fen")),
        tapped_at=_as_time(data.get("tapped_at")),
    )
    if (
        tap.local_seq is None
        or tap.tapped_at is None
        or tap.kind not in KINDS
        or tap.medium not in MEDIA
        or (tap.medium == "qr" and not tap.code)
        or (tap.medium == "card" and tap.card is None)
        or (tap.amount_fen is not None and tap.amount_fen < 0)
        or (tap.stop_id is not None and len(tap.stop_id) > 64)
    ):
        tap.refuse("request.validation_failed")
    return tap


def _claim_batch(session: Session, terminal: Terminal, batch_id: str, count: int, now: datetime):
    """Insert the batch row first: a second upload of the same id (now or concurrently) finds it.
    Returns the stored results when the batch is known, else None (this upload processes it)."""
    known = session.get(TapBatch, batch_id)
    if known is None:
        try:
            with session.begin_nested():
                session.add(
                    TapBatch(
                        batch_id=batch_id,
                        terminal_id=terminal.id,
                        received_at=now,
                        tap_count=count,
                        accepted=0,
                        refused=0,
                        results="[]",
                    )
                )
        except IntegrityError:
            # A concurrent upload of the same batch committed first: return its results.
            known = session.execute(
                select(TapBatch)
                .where(TapBatch.batch_id == batch_id)
                .execution_options(populate_existing=True)
            ).scalar_one()
    if known is None:
        return None
    if known.terminal_id != terminal.id:
        raise DomainError("request.idempotency_conflict", "batch id used by another terminal")
    return json.loads(known.results)


def _stored_seqs(session: Session, terminal_id: int, seqs: Sequence[int]) -> dict[int, tuple]:
    """(tap id, trip id) of this terminal's taps already stored under these local sequences."""
    if not seqs:
        return {}
    tap = TapRow.__table__
    rows = session.execute(
        select(tap.c.local_seq, tap.c.id, tap.c.trip_id).where(
            tap.c.terminal_id == terminal_id,
            tap.c.local_seq >= min(seqs),
            tap.c.local_seq <= max(seqs),
        )
    )
    wanted = set(seqs)
    return {seq: (tap_id, trip_id) for seq, tap_id, trip_id in rows if seq in wanted}


def upload_batch(
    session: Session,
    terminal: Terminal,
    batch_id: str,
    taps: Sequence[Any],
    now: datetime,
    *,
    clock_skew_s: int = 300,
) -> list[dict[str, Any]]:
    """Process an offline terminal's batch in one transaction (committed here): one result per
    tap, in the order given — ``{local_seq, result, code, tap_id, trip_id}`` with result
    ``accepted | refused | duplicate | double_use``. Uploading it again returns the same."""
    if not batch_id or len(batch_id) > 64:
        raise DomainError("request.validation_failed", errors=[{"field": "body.batch_id"}])
    if len(taps) > MAX_BATCH_TAPS:
        raise DomainError("request.too_large", f"at most {MAX_BATCH_TAPS} taps per batch")
    stored = _claim_batch(session, terminal, batch_id, len(taps), now)
    if stored is not None:
        session.commit()  # the request's nonce
        return stored

    items = [_parse_batch_tap(i, raw) for i, raw in enumerate(taps)]
    first_of: dict[int, _BatchTap] = {}
    repeats: list[tuple[_BatchTap, _BatchTap]] = []  # (repeat, first) within this batch
    for item in items:
        if item.local_seq is None:
            continue
        first = first_of.setdefault(item.local_seq, item)
        if first is not item:
            item.result = DUPLICATE
            repeats.append((item, first))
    _mark_stored(session, terminal, items)

    placement = session.get(TerminalPlacement, terminal.id)
    table = fare_table(session)
    network = table.networks.get(placement.network_id) if placement is not None else None
    skew = timedelta(seconds=clock_skew_s)
    for item in items:
        if item.result is not None:
            continue
        if placement is None:
            item.refuse("transit.not_placed")
        elif network is None:
            item.refuse("transit.unknown_network")
        else:
            problem = _static_checks(
                terminal.kind,
                placement,
                kind=item.kind,
                medium=item.medium,
                stop_id=item.stop_id,
                amount_fen=item.amount_fen,
                tapped_at=item.tapped_at,  # type: ignore[arg-type]
                now=now,
                skew=skew,
            )
            if problem is not None:
                item.refuse(problem)

    _identify(session, items, now)
    live = [i for i in items if i.result is None]
    holders = _lock_holders(session, {i.card_id for i in live})  # type: ignore[misc]
    _mark_stored(session, terminal, live)  # a concurrent upload may have stored some meanwhile
    _check_cards(session, items, holders)
    uses = []
    for item in items:
        if item.result is not None:
            continue
        if item.kind == "taxi":
            cap = item.accepted.per_use_cap_fen if item.accepted else _card_cap_fen()
            if (item.amount_fen or 0) > cap:
                item.refuse("transit.amount_over_cap")
                continue
        if item.accepted is not None:
            generated = datetime.fromtimestamp(item.accepted.generated_at, now.tzinfo)
            kind = item.accepted.kind
        else:
            generated, kind = item.tapped_at, CARD_USE_KIND
        item.use = _use_row(
            item.serial if item.accepted else -item.card_id,  # type: ignore[operator]
            item.counter,  # type: ignore[arg-type]
            kind,
            item.card_id,  # type: ignore[arg-type]
            terminal,
            generated,  # type: ignore[arg-type]
            now,
        )
        uses.append(item.use)
    claimed = _claim_uses(session, uses)
    for item in items:
        if item.use is not None and (item.use["serial"], item.use["counter"]) not in claimed:
            item.result = DOUBLE_USE
            item.error = "credential.replayed" if item.accepted else "chip.counter_replayed"

    to_store = [
        i for i in items if i.result in (None, REFUSED, DOUBLE_USE) and i.local_seq is not None
    ]
    for item, tap_id in zip(
        to_store, _allocate_ids(session, "transit_tap", len(to_store)), strict=True
    ):
        item.tap_id = tap_id

    rows: dict[int, dict[str, Any]] = {}
    for item in to_store:
        rows[item.index] = {
            "id": item.tap_id,
            "terminal_id": terminal.id,
            "local_seq": item.local_seq,
            "batch_id": batch_id,
            "medium": item.medium,
            "credential_serial": item.serial if item.accepted else None,
            "credential_counter": item.counter,
            "card_id": item.card_id,
            "kind": item.kind,
            "network_id": placement.network_id if placement else "",
            "stop_id": placement.stop_id if placement else item.stop_id,
            "amount_fen": item.amount_fen if item.kind == "taxi" else None,
            "tapped_at": item.tapped_at or now,
            "received_at": now,
            "result": item.result or ACCEPTED,
            "code": item.error,
            "trip_id": None,
        }

    trips = _Trips(table, holders, now, reentry=reentry_window())
    accepted = sorted(
        (i for i in items if i.result is None),
        key=lambda i: (i.tapped_at, i.local_seq),
    )
    if accepted:
        first = local_date(accepted[0].tapped_at)  # type: ignore[arg-type]
        trips.load(
            session,
            _history_since(first),
            accepted[0].tapped_at,  # type: ignore[arg-type]
        )
    trip_of: dict[int, dict[str, Any]] = {}
    for item in accepted:
        row = rows[item.index]
        try:
            trip_of[item.index] = trips.apply(row, network, row["amount_fen"])  # type: ignore[arg-type]
            item.result = ACCEPTED
        except _Refuse as exc:
            item.refuse(exc.code)
            row.update(result=REFUSED, code=exc.code)
    trips.assign_ids(session)
    for index, trip in trip_of.items():
        rows[index]["trip_id"] = trip["id"]
        items[index].trip_id = trip["id"]

    ordered = sorted(rows.values(), key=lambda r: r["local_seq"])
    inserted = _bulk_insert(
        session,
        TapRow.__table__,
        ordered,
        conflict=("terminal_id", "local_seq"),
        returning=("local_seq",),
    )
    if len(inserted) != len(ordered):
        # Another upload stored some of these local sequences between our checks: retry later.
        raise DomainError("request.idempotency_conflict", "local_seq stored concurrently")
    trips.write(session)
    _advance_chip_counters(session, items)
    _flag_listed_taps(session, terminal, batch_id, items, now)

    for repeat, first in repeats:
        repeat.tap_id, repeat.trip_id = first.tap_id, first.trip_id
    results = [i.out() for i in items]
    batch = session.get(TapBatch, batch_id)
    batch.accepted = sum(1 for i in items if i.result == ACCEPTED)
    batch.refused = sum(1 for i in items if i.result in (REFUSED, DOUBLE_USE))
    batch.results = json.dumps(results, separators=(",", ":"))
    session.commit()
    return results


def _mark_stored(session: Session, terminal: Terminal, items: Sequence[_BatchTap]) -> None:
    """Taps whose (terminal, local_seq) is already stored are duplicates."""
    open_items = [i for i in items if i.result is None and i.local_seq is not None]
    stored = _stored_seqs(session, terminal.id, [i.local_seq for i in open_items])  # type: ignore[misc]
    for item in open_items:
        found = stored.get(item.local_seq)  # type: ignore[arg-type]
        if found is not None:
            item.result = DUPLICATE
            item.tap_id, item.trip_id = found


def _identify(session: Session, items: Sequence[_BatchTap], now: datetime) -> None:
    """Verify QR taps at their time (revocation as it was then) and check card answers; sets
    ``card_id``, ``serial``, ``counter`` or refuses."""
    qr = [i for i in items if i.result is None and i.medium == "qr"]
    if qr:
        holder = _batch_verifier()
        verifier = holder.get(session, now)
        checked = _verify_all(holder, verifier, [(i.code, i.tapped_at) for i in qr])  # type: ignore[misc]
        good: list[tuple[_BatchTap, Accepted]] = []
        for item, outcome in zip(qr, checked, strict=True):
            if isinstance(outcome, str):
                item.refuse(f"credential.{outcome}")
            else:
                good.append((item, outcome))
        revocations = _RevocationHistory(
            session, [a.serial for _, a in good], [a.pseudonym for _, a in good]
        )
        cards = _cards_for_pseudonyms(session, [a.pseudonym for _, a in good])
        for item, accepted in good:
            reason = revocations.revoked(accepted.serial, accepted.pseudonym, item.tapped_at)  # type: ignore[arg-type]
            if reason is not None and reason not in CHARGED_WHEN_LISTED:
                item.refuse("credential.revoked")
                continue
            item.listed = reason
            card_id = cards.get(accepted.pseudonym)
            if card_id is None:
                item.refuse("transit.no_card")
                continue
            item.accepted = accepted
            item.card_id, item.serial, item.counter = card_id, accepted.serial, accepted.counter

    physical = [i for i in items if i.result is None and i.medium == "card"]
    if physical:
        serials = sorted({i.card.serial for i in physical})  # type: ignore[union-attr]
        by_serial: dict[str, int] = {}
        for chunk in _chunks(serials):
            for card_id, serial in session.execute(
                select(Card.id, Card.serial).where(Card.serial.in_(chunk))
            ):
                by_serial[serial] = card_id
        master = chip.master_key()
        for item in physical:
            answer = item.card
            assert answer is not None
            card_id = by_serial.get(answer.serial)
            if card_id is None:
                item.refuse("chip.unknown_card")
            elif not chip.mac_matches(
                master, answer.serial, answer.challenge, answer.counter, answer.mac
            ):
                item.refuse("chip.bad_mac")
            else:
                item.card_id, item.counter = card_id, answer.counter


def _check_cards(
    session: Session, items: Sequence[_BatchTap], holders: Mapping[int, _Holder]
) -> None:
    """A physical card must have been active when it was tapped (a card reported lost after the
    tap was still good at the gate)."""
    states: dict[tuple[int, datetime], str] = {}
    for item in items:
        if item.result is not None or item.medium != "card":
            continue
        holder = holders.get(item.card_id)  # type: ignore[arg-type]
        if holder is None:
            item.refuse("chip.unknown_card")
            continue
        if holder.state == CardState.ACTIVE:
            continue
        key = (holder.card_id, item.tapped_at)
        if key not in states:
            states[key] = _state_at(session, holder.card_id, holder.state, item.tapped_at)  # type: ignore[arg-type]
        if states[key] != CardState.ACTIVE:
            item.refuse("card.not_active")


def _flag_listed_taps(
    session: Session, terminal: Terminal, batch_id: str, items: Sequence[_BatchTap], now: datetime
) -> None:
    """Taps a gate accepted although the card was on the revocation list when it was tapped,
    for a reason under which the ride is still the holder's (:data:`CHARGED_WHEN_LISTED`, e.g.
    transit ``debt``; the gate's list was older than the listing, or it had no SAM to check a
    card): the ride happened, so the tap is recorded and charged like any other, and one audit
    event per batch (``transit.listed_card_accepted_offline``) names those taps for review. QR
    codes listed for another reason were refused in :func:`_identify`; a lost or sealed card was
    refused by its state at tap time."""
    flagged = [
        {"tap_id": i.tap_id, "card_id": i.card_id, "reason": i.listed}
        for i in items
        if i.result == ACCEPTED and i.medium == "qr" and i.listed
    ]
    physical = [i for i in items if i.result == ACCEPTED and i.medium == "card"]
    pseudonyms: dict[int, bytes] = {}
    for chunk in _chunks(sorted({i.card_id for i in physical})):  # type: ignore[type-var]
        for card_id, pseudonym in session.execute(
            select(CardPseudonym.card_id, CardPseudonym.pseudonym).where(
                CardPseudonym.card_id.in_(chunk)
            )
        ):
            pseudonyms[card_id] = bytes(pseudonym)
    if pseudonyms:  # a card that never had a pseudonym was never listed
        history = _RevocationHistory(session, (), pseudonyms.values())
        for item in physical:
            pseudonym = pseudonyms.get(item.card_id)  # type: ignore[arg-type]
            reason = pseudonym and history.listed(pseudonym, item.tapped_at)  # type: ignore[arg-type]
            if reason:
                flagged.append({"tap_id": item.tap_id, "card_id": item.card_id, "reason": reason})
    if flagged:
        audit.record(
            session,
            None,
            "transit.listed_card_accepted_offline",
            object_type="transit_tap_batch",
            object_id=batch_id,
            now=now,
            terminal_id=terminal.id,
            taps=sorted(flagged, key=lambda f: f["tap_id"]),
        )


def _advance_chip_counters(session: Session, items: Sequence[_BatchTap]) -> None:
    highest: dict[int, int] = {}
    for item in items:
        if item.result == ACCEPTED and item.medium == "card":
            card_id, counter = item.card_id, item.counter
            if card_id is not None and counter is not None:
                highest[card_id] = max(highest.get(card_id, 0), counter)
    for card_id, counter in sorted(highest.items()):
        session.execute(
            update(Card)
            .where(Card.id == card_id)
            .values(
                chip_counter=case((Card.chip_counter < counter, counter), else_=Card.chip_counter)
            )
        )


# --- views ----------------------------------------------------------------------------------------


def trip_view(trip: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A trip as terminals and holders see it, with the fare breakdown."""
    if trip is None:
        return None
    return {
        "id": trip["id"],
        "status": trip["status"],
        "incomplete": trip["incomplete"],
        "network_id": trip["network_id"],
        "mode": trip["mode"],
        "from_stop_id": trip["from_stop_id"],
        "to_stop_id": trip["to_stop_id"],
        "started_at": trip["started_at"],
        "ended_at": trip["ended_at"],
        "charged_fen": trip["charged_fen"],
        "payment_status": trip["payment_status"],
        "breakdown": {
            "base_fen": trip["base_fen"],
            "concession_fen": trip["concession_fen"],
            "transfer_fen": trip["transfer_fen"],
            "volume_fen": trip["volume_fen"],
            "cap_fen": trip["cap_fen"],
            "charged_fen": trip["charged_fen"],
            "fare_product_id": trip["fare_product_id"],
            "rider_category_id": trip["rider_category_id"],
            "concession_policy_id": trip["concession_policy_id"],
            "leg_group_id": trip["leg_group_id"],
            "notes": [n for n in (trip["notes"] or "").split(",") if n],
        },
    }
