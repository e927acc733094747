"""The contract between the fare engine and the rest of transit (taps, trips, payment).

``FareTable`` is the fare data in memory (loaded from the database by ``fares.load_fare_table``);
``price_leg`` in ``rules.py`` is pure: a leg, who rides, what they already rode, the fare data →
a ``FareBreakdown``. Trips and payment store the breakdown as it is, so a cardholder can see why
they paid what they paid.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property


@dataclass(frozen=True)
class Leg:
    """One ride to price. Times are aware UTC; the engine reasons in Asia/Shanghai."""

    network_id: str
    mode: str  # metro | bus | brt | tram | ferry | coach | taxi | bicycle
    city_code: str  # city where the ride happens (the network's city)
    operator_id: str
    started_at: datetime
    ended_at: datetime | None = None
    from_stop_id: str | None = None
    to_stop_id: str | None = None
    metered_amount_fen: int | None = None  # taxis: what the meter says
    incomplete: str | None = None  # None | "no_exit" | "no_entry"


@dataclass(frozen=True)
class Rider:
    """Who rides, derived from the registry at the moment of travel."""

    card_id: int
    home_city: str  # the card holder's city
    categories: frozenset[str]  # e.g. {"senior_65_plus"}, names from credentials.rules


@dataclass(frozen=True)
class PriorLeg:
    network_id: str
    mode: str
    leg_group_id: str | None
    ended_at: datetime
    charged_fen: int
    transfer_count: int  # transfers already used in the journey this leg belongs to


@dataclass(frozen=True)
class History:
    """What the rider already rode, as the engine needs it (computed by the trips service)."""

    service_date: date  # Asia/Shanghai calendar date of this leg
    charged_today_fen: int = 0  # per cap scope, see ``caps`` keys in FareTable
    charged_month_fen: int = 0
    paid_rides_this_month: int = 0  # in the volume-discount scope (city + modes of the rule)
    previous_leg: PriorLeg | None = None


@dataclass(frozen=True)
class FareBreakdown:
    """Every step from the base fare to what is charged; all amounts in fen (>= 0)."""

    base_fen: int
    concession_fen: int = 0  # discount for the rider category (paid by the city)
    transfer_fen: int = 0  # transfer discount
    volume_fen: int = 0  # monthly volume discount
    cap_fen: int = 0  # reduction because a daily/monthly cap was reached
    charged_fen: int = 0
    leg_group_id: str | None = None
    fare_product_id: str | None = None
    rider_category_id: str | None = None
    concession_policy_id: str | None = None
    # machine words, e.g. "same_city_treatment"
    notes: tuple[str, ...] = field(default_factory=tuple)


# --- Fare data in memory ----------------------------------------------------------------------
# Built by ``fares.load_fare_table`` (from the database) or ``fares.fare_table_from_directory``
# (straight from the CSV files, for tests and tools). Blank GTFS fields are ``None``.


@dataclass(frozen=True)
class OperatorInfo:
    operator_id: str
    name_zh: str
    name_en: str
    city_code: str
    mode: str


@dataclass(frozen=True)
class NetworkInfo:
    network_id: str
    network_name: str | None
    operator_id: str
    city_code: str
    mode: str


@dataclass(frozen=True)
class StopInfo:
    stop_id: str
    stop_name: str
    city_code: str


@dataclass(frozen=True)
class LegRule:
    """A GTFS ``fare_leg_rules`` row joined with its fare product's amount."""

    network_id: str
    from_area_id: str | None  # None matches any area
    to_area_id: str | None
    fare_product_id: str
    amount_fen: int
    leg_group_id: str | None = None
    rule_priority: int = 0


@dataclass(frozen=True)
class TransferRule:
    """A GTFS ``fare_transfer_rules`` row joined with its fare product's amount (0 if none)."""

    from_leg_group_id: str | None  # None matches any leg group
    to_leg_group_id: str | None
    fare_transfer_type: int  # 0: A + AB, 1: A + AB + B, 2: AB
    amount_fen: int = 0
    fare_product_id: str | None = None
    transfer_count: int | None = None  # None or -1: unlimited
    duration_limit_s: int | None = None  # None: unlimited
    duration_limit_type: int | None = None  # 2: arrival → departure, 3: arrival → arrival


@dataclass(frozen=True)
class ConcessionPolicy:
    policy_id: str
    city_code: str
    mode: str  # a mode or "*"
    rider_category_id: str
    discount: str  # free | percent
    percent_off: int | None
    valid_from: date
    valid_to: date | None  # inclusive; None: open-ended
    other_cities: str  # none | guangdong (same-city treatment for every Guangdong card)


@dataclass(frozen=True)
class FareCap:
    cap_id: str
    city_code: str
    modes: frozenset[str]
    period: str  # day | month
    amount_fen: int


@dataclass(frozen=True)
class VolumeDiscount:
    rule_id: str
    city_code: str
    modes: frozenset[str]
    after_rides: int
    percent_off: int
    period: str  # month


@dataclass(frozen=True)
class DurationFare:
    """Bicycles: free for ``free_minutes``, then ``block_fen`` per started ``block_minutes``."""

    network_id: str
    free_minutes: int
    block_minutes: int
    block_fen: int
    max_fen: int | None = None


@dataclass(frozen=True)
class IncompleteTripRule:
    network_id: str
    no_exit_fen: int | None  # None: the network's maximum fare
    no_entry_fen: int | None  # None: the network's maximum fare
    exit_timeout_minutes: int | None = None  # longer rides pay the maximum fare
    same_station_minutes: int | None = None  # exit where entered within this: minimum fare


@dataclass(frozen=True)
class FareTable:
    """All fare data of one import (``version`` is the ``fare_import`` id; None if not imported)."""

    version: int | None = None
    operators: Mapping[str, OperatorInfo] = field(default_factory=dict)
    networks: Mapping[str, NetworkInfo] = field(default_factory=dict)
    stops: Mapping[str, StopInfo] = field(default_factory=dict)
    stop_areas: Mapping[str, frozenset[str]] = field(default_factory=dict)  # stop_id → area ids
    leg_rules: Mapping[str, tuple[LegRule, ...]] = field(default_factory=dict)  # by network_id
    transfer_rules: tuple[TransferRule, ...] = ()
    default_rider_category: str | None = None
    rider_category_ids: frozenset[str] = frozenset()
    concessions: tuple[ConcessionPolicy, ...] = ()
    caps: tuple[FareCap, ...] = ()
    volume_discounts: tuple[VolumeDiscount, ...] = ()
    duration_fares: Mapping[str, DurationFare] = field(default_factory=dict)
    incomplete_rules: Mapping[str, IncompleteTripRule] = field(default_factory=dict)

    def cap_for(self, city_code: str, mode: str, period: str) -> FareCap | None:
        """The cap whose scope holds a ride (import guarantees at most one per city/mode/period).
        The trips service sums ``History.charged_today_fen``/``charged_month_fen`` over the cap's
        scope: rides in ``cap.city_code`` whose mode is in ``cap.modes``."""
        for cap in self.caps:
            if cap.city_code == city_code and mode in cap.modes and cap.period == period:
                return cap
        return None

    def volume_rule_for(self, city_code: str, mode: str) -> VolumeDiscount | None:
        """The volume discount whose scope holds a ride; ``History.paid_rides_this_month`` counts
        rides in that scope with ``charged_fen > 0`` in the calendar month (Asia/Shanghai)."""
        for rule in self.volume_discounts:
            if rule.city_code == city_code and mode in rule.modes:
                return rule
        return None

    @cached_property
    def leg_rule_index(self) -> Mapping[tuple[str, str | None, str | None], tuple[LegRule, ...]]:
        """Leg rules by (network, from area, to area); built once per table."""
        index: dict[tuple[str, str | None, str | None], list[LegRule]] = {}
        for network_id, rules in self.leg_rules.items():
            for rule in rules:
                key = (network_id, rule.from_area_id, rule.to_area_id)
                index.setdefault(key, []).append(rule)
        return {k: tuple(v) for k, v in index.items()}

    @cached_property
    def concessions_by_city(self) -> Mapping[str, tuple[ConcessionPolicy, ...]]:
        """Concession policies by the city they are for, in policy id order (ties in the discount
        go to the first policy id); built once per table."""
        index: dict[str, list[ConcessionPolicy]] = {}
        for policy in sorted(self.concessions, key=lambda p: p.policy_id):
            index.setdefault(policy.city_code, []).append(policy)
        return {k: tuple(v) for k, v in index.items()}

    def fare_range(self, network_id: str) -> tuple[int, int] | None:
        """(minimum, maximum) fare of a network in fen, from its leg rules or duration fare."""
        amounts = [r.amount_fen for r in self.leg_rules.get(network_id, ()) if r.amount_fen >= 0]
        duration = self.duration_fares.get(network_id)
        if duration is not None and duration.max_fen is not None:
            amounts += [0, duration.max_fen]
        if not amounts:
            return None
        return min(amounts), max(amounts)
