"""The fare engine. Pure: no Flask, no database, no clock (times come with the leg).

``price_leg`` turns a leg, its rider, what the rider already rode and the fare data into a
:class:`FareBreakdown`, step by step, every amount an integer number of fen:

1. **base** — the GTFS ``fare_leg_rules`` row for the network and the entry/exit areas (highest
   ``rule_priority`` first, then rules naming an area before rules leaving it blank, then the
   cheapest); bicycles by duration (``duration_fares``); taxis the metered amount; incomplete or
   anomalous metro rides per ``incomplete_trips`` (no exit, no entry, exit after the timeout,
   exit at the entry station).
2. **concession** — the policy valid on the service date for the ride's city and mode and the
   best of the rider's categories; a card from another city gets it only when the policy's
   ``other_cities`` allows (same-city treatment).
3. **transfer** — a GTFS ``fare_transfer_rules`` row matching the previous leg's leg group, within
   its duration limit and transfer count.
4. **volume** — after ``after_rides`` paid rides in the calendar month, ``percent_off`` of what
   remains.
5. **cap** — never charge past the daily cap, then the monthly cap, given what was charged.

Percentages round half up to whole fen and the rounded amount is the *discount*, so the rider gets
the half fen: half of ¥13.05 is a discount of 653 fen and a charge of 652.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_CEILING, Decimal

from server.credentials.rules import categories_on, category_name_set
from server.registry.rules import CITY_BY_CODE
from server.transit.pricing import (
    ConcessionPolicy,
    FareBreakdown,
    FareTable,
    History,
    Leg,
    LegRule,
    NetworkInfo,
    Rider,
    TransferRule,
)

MODES = frozenset({"metro", "bus", "brt", "tram", "ferry", "coach", "taxi", "bicycle"})
OTHER_CITIES = frozenset({"none", "guangdong"})
INCOMPLETE_KINDS = frozenset({"no_exit", "no_entry"})

# Transfer duration limit types we can evaluate from a ``PriorLeg`` (which knows when it ended):
# 2 = previous leg's arrival → this leg's departure, 3 = previous arrival → this arrival.
SUPPORTED_DURATION_LIMIT_TYPES = frozenset({2, 3})


class FareError(ValueError):
    """A leg that cannot be priced; ``code`` is a ``transit.*`` error code."""

    def __init__(self, code: str, reason: str = "") -> None:
        super().__init__(f"{code}: {reason}" if reason else code)
        self.code = code
        self.reason = reason


# --- rider categories ------------------------------------------------------------------------
def rider_categories(birth_date: date, disability_level: int | None, on: date) -> frozenset[str]:
    """The rider's category names on a local date (``credentials.rules``; never stored)."""
    return category_name_set(categories_on(birth_date, disability_level, on))


# --- money helpers ---------------------------------------------------------------------------
def percent_of(amount_fen: int, percent: int) -> int:
    """``percent``% of an amount in whole fen, half up (used for discounts: the rider gains)."""
    if amount_fen < 0 or not 0 <= percent <= 100:
        raise ValueError("amount must be >= 0 and percent in 0..100")
    return (amount_fen * percent + 50) // 100


# Guangzhou Metro distance bands (广州地铁按里程分段计价): ¥2 for the first 4 km; then +¥1 per
# started 4 km up to 12 km, +¥1 per started 6 km up to 24 km, +¥1 per started 8 km beyond.
GUANGZHOU_METRO_BASE_KM = Decimal(4)
GUANGZHOU_METRO_BASE_FEN = 200
GUANGZHOU_METRO_BANDS: tuple[tuple[Decimal | None, Decimal], ...] = (
    (Decimal(12), Decimal(4)),
    (Decimal(24), Decimal(6)),
    (None, Decimal(8)),
)
GUANGZHOU_METRO_STEP_FEN = 100


def guangzhou_metro_fare_fen(km: Decimal | int | float | str) -> int:
    """The Guangzhou Metro fare for a shortest-path distance (also used by Foshan and Guangfo).

    ``km`` is exact: a float is read through its shortest decimal form (4.1 is 4.1, not
    4.0999…). 4.0 km → 200, 4.1 km → 300, 12.0 → 400, 12.1 → 500, 24.0 → 600, 24.1 → 700.
    """
    distance = Decimal(str(km)) if isinstance(km, float) else Decimal(km)
    if not distance.is_finite() or distance < 0:
        raise ValueError("distance must be a finite number of km >= 0")
    fare = GUANGZHOU_METRO_BASE_FEN
    lower = GUANGZHOU_METRO_BASE_KM
    for upper, step in GUANGZHOU_METRO_BANDS:
        if distance <= lower:
            break
        span = distance - lower if upper is None else min(distance, upper) - lower
        steps = (span / step).to_integral_value(rounding=ROUND_CEILING)
        fare += int(steps) * GUANGZHOU_METRO_STEP_FEN
        if upper is None:
            break
        lower = upper
    return fare


# --- the engine ------------------------------------------------------------------------------
def price_leg(leg: Leg, rider: Rider, history: History, table: FareTable) -> FareBreakdown:
    """Price one leg; see the module docstring for the steps. Raises :class:`FareError`."""
    network = table.networks.get(leg.network_id)
    if network is None:
        raise FareError("transit.unknown_network", leg.network_id)
    for stop_id in (leg.from_stop_id, leg.to_stop_id):
        if stop_id is not None and stop_id not in table.stops:
            raise FareError("transit.unknown_stop", stop_id)
    if leg.incomplete is not None and leg.incomplete not in INCOMPLETE_KINDS:
        raise FareError("transit.invalid_leg", f"incomplete={leg.incomplete!r}")
    if leg.ended_at is not None and leg.ended_at < leg.started_at:
        raise FareError("transit.invalid_leg", "ended_at is before started_at")

    notes: list[str] = []
    base, rule = _base_fare(leg, network, table, notes)
    remaining = base

    # 2. concession
    concession, policy = _concession(leg, rider, history.service_date, table, base)
    category = policy.rider_category_id if policy else table.default_rider_category
    if concession:
        notes.append("concession")
        if rider.home_city != leg.city_code:
            notes.append("same_city_treatment")
    remaining -= concession

    # 3. transfer
    transfer = 0
    if remaining > 0 and rule is not None:
        transfer = _transfer_discount(leg, rule, remaining, history, table)
        if transfer:
            notes.append("transfer")
    remaining -= transfer

    # 4. volume discount
    volume = 0
    volume_rule = table.volume_rule_for(leg.city_code, leg.mode)
    if remaining > 0 and volume_rule and history.paid_rides_this_month >= volume_rule.after_rides:
        volume = percent_of(remaining, volume_rule.percent_off)
        if volume:
            notes.append("volume_discount")
    remaining -= volume

    # 5. caps: the day first, then the month
    cap_total = 0
    for period, charged in (
        ("day", history.charged_today_fen),
        ("month", history.charged_month_fen),
    ):
        cap = table.cap_for(leg.city_code, leg.mode, period)
        if cap is None or remaining <= 0:
            continue
        allowed = max(0, cap.amount_fen - max(0, charged))
        if remaining > allowed:
            cap_total += remaining - allowed
            remaining = allowed
            notes.append(f"cap_{period}")

    return FareBreakdown(
        base_fen=base,
        concession_fen=concession,
        transfer_fen=transfer,
        volume_fen=volume,
        cap_fen=cap_total,
        charged_fen=remaining,
        leg_group_id=rule.leg_group_id if rule else None,
        fare_product_id=rule.fare_product_id if rule else None,
        rider_category_id=category,
        concession_policy_id=policy.policy_id if policy and concession else None,
        notes=tuple(notes),
    )


# --- 1. base fare ----------------------------------------------------------------------------
def _base_fare(
    leg: Leg, network: NetworkInfo, table: FareTable, notes: list[str]
) -> tuple[int, LegRule | None]:
    if leg.mode == "taxi":
        amount = leg.metered_amount_fen
        if amount is None or isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
            raise FareError("transit.invalid_leg", leg.network_id)
        notes.append("metered")
        return amount, None

    incomplete = table.incomplete_rules.get(network.network_id)
    if leg.incomplete == "no_exit":
        fixed = incomplete.no_exit_fen if incomplete else None
        return _penalty(table, network, fixed, "no_exit", notes), None
    if leg.incomplete == "no_entry":
        fixed = incomplete.no_entry_fen if incomplete else None
        return _penalty(table, network, fixed, "no_entry", notes), None

    duration = table.duration_fares.get(network.network_id)
    if duration is not None:
        if leg.ended_at is None:
            raise FareError("transit.invalid_leg", "a duration fare needs ended_at")
        seconds = _seconds(leg.started_at, leg.ended_at)
        charged_s = seconds - duration.free_minutes * 60
        amount = 0
        if charged_s > 0:
            blocks = -(-charged_s // (duration.block_minutes * 60))  # started blocks
            amount = blocks * duration.block_fen
            if duration.max_fen is not None and amount > duration.max_fen:
                amount = duration.max_fen
                notes.append("max_fare_duration")
        notes.append("duration_fare")
        return amount, None

    if incomplete is not None and leg.ended_at is not None:
        minutes = _seconds(leg.started_at, leg.ended_at) / 60
        same_station = leg.from_stop_id is not None and leg.from_stop_id == leg.to_stop_id
        if same_station and incomplete.same_station_minutes is not None:
            if minutes <= incomplete.same_station_minutes:
                notes.append("min_fare_same_station")
                return _fare_range(table, network)[0], None
            notes.append("max_fare_same_station_late")
            return _fare_range(table, network)[1], None
        if (
            incomplete.exit_timeout_minutes is not None
            and minutes > incomplete.exit_timeout_minutes
        ):
            notes.append("max_fare_exit_timeout")
            return _fare_range(table, network)[1], None

    rule = match_leg_rule(table, network.network_id, leg.from_stop_id, leg.to_stop_id)
    return rule.amount_fen, rule


def match_leg_rule(
    table: FareTable, network_id: str, from_stop_id: str | None, to_stop_id: str | None
) -> LegRule:
    """The leg rule for a ride: matching areas (a blank area matches any), highest
    ``rule_priority``, then the most specific (areas named), then the cheapest."""
    from_areas = table.stop_areas.get(from_stop_id, frozenset()) if from_stop_id else frozenset()
    to_areas = table.stop_areas.get(to_stop_id, frozenset()) if to_stop_id else frozenset()
    best: LegRule | None = None
    best_key: tuple[int, int, int] | None = None
    index = table.leg_rule_index
    for from_area in (*sorted(from_areas), None):
        for to_area in (*sorted(to_areas), None):
            for rule in index.get((network_id, from_area, to_area), ()):
                specific = (from_area is not None) + (to_area is not None)
                key = (rule.rule_priority, specific, -rule.amount_fen)
                if best_key is None or key > best_key:
                    best, best_key = rule, key
    if best is None:
        raise FareError("transit.no_fare_rule", f"{network_id}: {from_stop_id} → {to_stop_id}")
    return best


def _fare_range(table: FareTable, network: NetworkInfo) -> tuple[int, int]:
    found = table.fare_range(network.network_id)
    if found is None:
        raise FareError("transit.no_fare_rule", f"{network.network_id} has no fares")
    return found


def _penalty(
    table: FareTable, network: NetworkInfo, fixed: int | None, kind: str, notes: list[str]
) -> int:
    if fixed is not None:
        notes.append(f"fixed_fare_{kind}")
        return fixed
    notes.append(f"max_fare_{kind}")
    return _fare_range(table, network)[1]


def _seconds(start: datetime, end: datetime) -> int:
    seconds = (end - start).total_seconds()
    if seconds < 0:
        raise FareError("transit.invalid_leg", "ended_at is before started_at")
    return int(-(-seconds // 1))  # a started second counts


# --- 2. concession ---------------------------------------------------------------------------
def policy_applies(policy: ConcessionPolicy, leg: Leg, rider: Rider, on: date) -> bool:
    """Whether a concession policy covers this ride for this rider on this service date."""
    if policy.city_code != leg.city_code or policy.mode not in ("*", leg.mode):
        return False
    if policy.rider_category_id not in rider.categories:
        return False
    if on < policy.valid_from or (policy.valid_to is not None and on > policy.valid_to):
        return False
    if rider.home_city == policy.city_code:
        return True
    # Same-city treatment: cards from other cities are treated like local cards.
    return policy.other_cities == "guangdong" and rider.home_city in CITY_BY_CODE


def _concession(
    leg: Leg, rider: Rider, on: date, table: FareTable, base: int
) -> tuple[int, ConcessionPolicy | None]:
    if not rider.categories:  # every policy is for a rider category: none can apply
        return 0, None
    best: tuple[int, ConcessionPolicy] | None = None
    for policy in table.concessions_by_city.get(leg.city_code, ()):
        if not policy_applies(policy, leg, rider, on):
            continue
        discount = base if policy.discount == "free" else percent_of(base, policy.percent_off or 0)
        if best is None or discount > best[0]:
            best = (discount, policy)
    if best is None:
        return 0, None
    return best


# --- 3. transfer -----------------------------------------------------------------------------
def _transfer_discount(
    leg: Leg, rule: LegRule, remaining: int, history: History, table: FareTable
) -> int:
    """The best transfer discount for this leg after ``history.previous_leg``."""
    previous = history.previous_leg
    if previous is None:
        return 0
    candidates = [
        t
        for t in table.transfer_rules
        if _group_matches(t.from_leg_group_id, previous.leg_group_id)
        and _group_matches(t.to_leg_group_id, rule.leg_group_id)
    ]
    # GTFS: a blank leg group matches only when no rule names the group.
    for side, group in (("from", previous.leg_group_id), ("to", rule.leg_group_id)):
        named = [t for t in candidates if getattr(t, f"{side}_leg_group_id") == group]
        if named and group is not None:
            candidates = named
    best = 0
    for transfer in candidates:
        if not _within_limits(transfer, leg, history):
            continue
        best = max(best, _discount_for(transfer, remaining, previous.charged_fen))
    return best


def _group_matches(rule_group: str | None, group: str | None) -> bool:
    return rule_group is None or (group is not None and rule_group == group)


def _within_limits(transfer: TransferRule, leg: Leg, history: History) -> bool:
    previous = history.previous_leg
    assert previous is not None
    limit = transfer.transfer_count
    if limit is not None and limit != -1 and previous.transfer_count >= limit:
        return False
    if transfer.duration_limit_s is None:
        return True
    if transfer.duration_limit_type == 2:
        moment: datetime | None = leg.started_at
    elif transfer.duration_limit_type == 3:
        moment = leg.ended_at
    else:
        return False  # refused at import; never discount on a limit we cannot evaluate
    if moment is None:
        return False
    elapsed = (moment - previous.ended_at).total_seconds()
    return 0 <= elapsed <= transfer.duration_limit_s


def _discount_for(transfer: TransferRule, remaining: int, previous_charged: int) -> int:
    """How much cheaper this leg is than ``remaining`` under a transfer rule (never negative)."""
    if transfer.fare_transfer_type == 1:  # A + AB + B: this leg costs B + AB (AB <= 0 here)
        cost = remaining + transfer.amount_fen
    elif transfer.fare_transfer_type == 0:  # A + AB: this leg costs AB
        cost = transfer.amount_fen
    else:  # 2, AB: the journey costs AB, of which the previous leg paid A
        cost = transfer.amount_fen - max(0, previous_charged)
    cost = max(0, cost)
    return max(0, remaining - cost)
