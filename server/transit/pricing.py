"""The contract between the fare engine and the rest of transit (taps, trips, payment).

``FareTable`` is the fare data in memory (loaded from the database by ``fares.load_fare_table``);
``price_leg`` in ``rules.py`` is pure: a leg, who rides, what they already rode, the fare data →
a ``FareBreakdown``. Trips and payment store the breakdown as it is, so a cardholder can see why
they paid what they paid.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime


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
    notes: tuple[str, ...] = field(default_factory=tuple)  # machine words, e.g. "same_city_treatment"
