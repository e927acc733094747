"""The fare engine, from the demo CSV files (pure: no database)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.error_codes import CATALOGUE
from server.transit.pricing import ConcessionPolicy, FareCap, History, PriorLeg
from server.transit.rules import (
    FareError,
    guangzhou_metro_fare_fen,
    percent_of,
    price_leg,
    rider_categories,
)

GZ, FS, SZ = "440100", "440600", "440300"
DAY = date(2026, 11, 20)
START = datetime.fromisoformat("2026-11-20T10:30:00+08:00")


def history(**fields) -> History:
    return History(service_date=fields.pop("service_date", DAY), **fields)


def code_of(call, *args) -> str:
    with pytest.raises(FareError) as caught:
        call(*args)
    assert caught.value.code in CATALOGUE
    return caught.value.code


def price(table, leg, rider, **hist):
    breakdown = price_leg(leg, rider, history(**hist), table)
    amounts = (
        breakdown.base_fen,
        breakdown.concession_fen,
        breakdown.transfer_fen,
        breakdown.volume_fen,
        breakdown.cap_fen,
        breakdown.charged_fen,
    )
    assert all(isinstance(a, int) and a >= 0 for a in amounts)
    assert breakdown.charged_fen == (
        breakdown.base_fen
        - breakdown.concession_fen
        - breakdown.transfer_fen
        - breakdown.volume_fen
        - breakdown.cap_fen
    )
    return breakdown


# --- Guangzhou Metro distance bands ----------------------------------------------------------
@pytest.mark.parametrize(
    ("km", "fen"),
    [
        (0, 200),
        (4.0, 200),
        (4.1, 300),
        (8.0, 300),
        (8.1, 400),
        (12.0, 400),
        (12.1, 500),
        (18.0, 500),
        (18.1, 600),
        (24.0, 600),
        (24.1, 700),
        (32.0, 700),
        (32.1, 800),
        (40.0, 800),
        (40.1, 900),
    ],
)
def test_each_distance_band_edge_is_priced_by_the_guangzhou_rule(km, fen):
    assert guangzhou_metro_fare_fen(km) == fen
    assert guangzhou_metro_fare_fen(str(km)) == fen
    assert guangzhou_metro_fare_fen(Decimal(str(km))) == fen


def test_a_metre_past_a_band_edge_starts_the_next_step():
    assert guangzhou_metro_fare_fen(Decimal("4.001")) == 300
    assert guangzhou_metro_fare_fen(Decimal("24.001")) == 700


@pytest.mark.parametrize("km", [-0.1, "nan", "inf"])
def test_a_distance_must_be_finite_and_not_negative(km):
    with pytest.raises(ValueError):
        guangzhou_metro_fare_fen(km)


# --- origin–destination fares from the imported CSV files -------------------------------------
@pytest.mark.parametrize(
    ("network", "origin", "destination", "fen"),
    [
        ("gz-metro", "gzm-xilang", "gzm-fangcun", 200),  # 4.0 km
        ("gz-metro", "gzm-xilang", "gzm-huangsha", 300),  # 5.6 km
        ("gz-metro", "gzm-tiyuxilu", "gzm-guangzhoudongzhan", 200),  # 2.8 km
        ("gz-metro", "gzm-gongyuanqian", "gzm-zhujiangxincheng", 300),  # 6.9 km via 体育西路
        ("gz-metro", "gzm-panyuguangchang", "gzm-tiyuxilu", 600),  # 23.7 km
        ("gz-metro", "gzm-panyuguangchang", "gzm-guangzhoudongzhan", 700),  # 26.5 km
        ("gz-metro", "gzm-panyuguangchang", "gzm-xilang", 800),  # 39.1 km, Line 3 → Line 1
        ("gz-metro", "gzm-xilang", "gzm-panyuguangchang", 800),  # and back
        ("fs-metro", "fsm-nanzhuang", "fsm-dengzhou", 500),  # 15.0 km
        ("gf-metro", "gfm-kuiqilu", "gfm-lijiao", 700),  # 27.9 km, Foshan → Guangzhou
        ("gf-metro", "gfm-qiandenghu", "gfm-jinronggaoxinqu", 200),  # 1.2 km
    ],
)
def test_metro_fares_come_from_the_leg_rule_of_each_station_pair(
    fare_table, make_leg, make_rider, network, origin, destination, fen
):
    breakdown = price(fare_table, make_leg(network, origin, destination), make_rider())
    assert breakdown.base_fen == breakdown.charged_fen == fen
    assert breakdown.leg_group_id == network
    assert breakdown.fare_product_id == f"{network}-{fen // 100}yuan"
    assert breakdown.rider_category_id == "adult"
    assert breakdown.notes == ()


@pytest.mark.parametrize(
    "network", ["gz-bus", "gz-brt", "gz-tram", "gz-ferry", "fs-bus", "zh-bus", "sz-bus"]
)
def test_buses_brt_the_tram_and_the_ferry_cost_a_flat_two_yuan(
    fare_table, make_leg, make_rider, network
):
    assert price(fare_table, make_leg(network, minutes=None), make_rider()).charged_fen == 200


def test_the_intercity_coach_charges_its_route_fare_with_no_concession_cap_or_discount(
    fare_table, make_leg, make_rider
):
    leg = make_leg("gz-zh-coach", minutes=None)
    breakdown = price(
        fare_table,
        leg,
        make_rider("senior_65_plus"),
        charged_today_fen=1500,  # Guangzhou's daily cap reached on metro and buses
        paid_rides_this_month=30,
    )
    assert (breakdown.base_fen, breakdown.charged_fen) == (7000, 7000)
    assert (breakdown.concession_fen, breakdown.cap_fen, breakdown.volume_fen) == (0, 0, 0)
    assert breakdown.fare_product_id == "gz-zh-coach-70yuan"


def test_a_taxi_costs_what_the_meter_says(fare_table, make_leg, make_rider):
    breakdown = price(fare_table, make_leg("gz-taxi", metered_amount_fen=2350), make_rider())
    assert (breakdown.base_fen, breakdown.charged_fen, breakdown.notes) == (
        2350,
        2350,
        ("metered",),
    )


# --- concessions -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("category", "network", "concession"),
    [
        ("senior_65_plus", "gz-metro", 600),
        ("senior_60_64", "gz-metro", 300),
        ("disabled", "gz-metro", 600),
        ("student", "gz-metro", 300),
        ("senior_65_plus", "gz-bus", 200),
        ("senior_60_64", "gz-bus", 100),
        ("student", "gz-bus", 100),
        ("senior_65_plus", "gz-ferry", 200),
        ("senior_65_plus", "gz-brt", 200),
        ("senior_60_64", "gz-tram", 100),
        ("student", "gz-brt", 100),
        ("student", "gz-ferry", 0),  # students: bus and metro only
        ("minor", "gz-metro", 0),
        ("senior_65_plus", "gz-taxi", 0),
    ],
)
def test_each_concession_applies_to_its_city_mode_and_category(
    fare_table, make_leg, make_rider, category, network, concession
):
    stops = ("gzm-panyuguangchang", "gzm-tiyuxilu") if network == "gz-metro" else (None, None)
    leg = make_leg(network, *stops, metered_amount_fen=600 if network == "gz-taxi" else None)
    breakdown = price(fare_table, leg, make_rider(category))
    assert breakdown.concession_fen == concession
    if concession:
        assert breakdown.rider_category_id == category
        assert breakdown.concession_policy_id is not None
        assert "concession" in breakdown.notes
        assert "same_city_treatment" not in breakdown.notes
    else:
        assert breakdown.concession_policy_id is None


def test_the_best_of_the_riders_categories_wins(fare_table, make_leg, make_rider):
    leg = make_leg("gz-metro", "gzm-xilang", "gzm-huangsha")
    breakdown = price(fare_table, leg, make_rider("senior_60_64", "disabled"))
    assert breakdown.concession_fen == 300
    assert breakdown.rider_category_id == "disabled"


def test_a_concession_applies_only_within_its_validity_dates(fare_table, make_leg, make_rider):
    leg = make_leg("gz-bus")
    student = make_rider("student")
    before = price(fare_table, leg, student, service_date=date(2021, 8, 31))
    first_day = price(fare_table, leg, student, service_date=date(2021, 9, 1))
    assert (before.concession_fen, first_day.concession_fen) == (0, 100)


def test_a_foshan_senior_rides_free_in_guangzhou_with_same_city_treatment(
    fare_table, make_leg, make_rider
):
    leg = make_leg("gz-metro", "gzm-panyuguangchang", "gzm-xilang")
    breakdown = price(fare_table, leg, make_rider("senior_65_plus", home=FS))
    assert breakdown.charged_fen == 0
    assert breakdown.concession_fen == 800
    assert "same_city_treatment" in breakdown.notes


def test_a_guangzhou_senior_in_shenzhen_does_not_get_shenzhens_concession(
    fare_table, make_leg, make_rider
):
    leg = make_leg("sz-bus")
    visitor = price(fare_table, leg, make_rider("senior_65_plus", home=GZ))
    local = price(fare_table, leg, make_rider("senior_65_plus", home=SZ))
    assert (visitor.charged_fen, visitor.concession_fen) == (200, 0)
    assert (local.charged_fen, local.concession_policy_id) == (0, "sz-s65-bus")


def test_a_card_from_outside_guangdong_gets_no_same_city_treatment(
    fare_table, make_leg, make_rider
):
    breakdown = price(fare_table, make_leg("gz-bus"), make_rider("senior_65_plus", home="110100"))
    assert breakdown.charged_fen == 200


def test_half_fare_discounts_round_half_up_in_the_riders_favour(fare_table, make_leg, make_rider):
    taxi_half = ConcessionPolicy(
        "test-s60-taxi", GZ, "taxi", "senior_60_64", "percent", 50, date(2021, 1, 1), None, "none"
    )
    table = replace(fare_table, concessions=(*fare_table.concessions, taxi_half))
    breakdown = price(
        table, make_leg("gz-taxi", metered_amount_fen=1305), make_rider("senior_60_64")
    )
    assert (breakdown.concession_fen, breakdown.charged_fen) == (653, 652)


@pytest.mark.parametrize(
    ("amount", "percent", "expected"),
    [(1305, 50, 653), (1, 50, 1), (250, 40, 100), (125, 40, 50), (0, 40, 0), (300, 100, 300)],
)
def test_percentages_are_whole_fen_rounded_half_up(amount, percent, expected):
    assert percent_of(amount, percent) == expected


def test_rider_categories_come_from_the_registry_on_the_day_of_travel():
    born = date(1961, 6, 1)
    assert rider_categories(born, None, date(2026, 5, 31)) == {"senior_60_64"}
    assert rider_categories(born, None, date(2026, 6, 1)) == {"senior_65_plus"}
    assert rider_categories(date(1990, 1, 1), 2, DAY) == {"disabled"}
    assert rider_categories(date(2015, 1, 1), None, DAY) == {"minor"}


# --- transfers -------------------------------------------------------------------------------
def bus_before(minutes_before: int, *, transfer_count: int = 0, charged: int = 200) -> PriorLeg:
    return PriorLeg(
        network_id="gz-bus",
        mode="bus",
        leg_group_id="gz-bus",
        ended_at=START - timedelta(minutes=minutes_before),
        charged_fen=charged,
        transfer_count=transfer_count,
    )


@pytest.mark.parametrize(("gap", "transfer"), [(1, 100), (89, 100), (90, 100), (91, 0)])
def test_bus_to_metro_within_90_minutes_is_one_yuan_cheaper(
    fare_table, make_leg, make_rider, gap, transfer
):
    leg = make_leg("gz-metro", "gzm-xilang", "gzm-huangsha")
    breakdown = price(fare_table, leg, make_rider(), previous_leg=bus_before(gap))
    assert breakdown.transfer_fen == transfer
    assert breakdown.charged_fen == 300 - transfer
    assert ("transfer" in breakdown.notes) is bool(transfer)


@pytest.mark.parametrize("surface", ["gz-brt", "gz-tram"])
def test_brt_and_tram_to_metro_are_discounted_like_buses(fare_table, make_leg, make_rider, surface):
    mode = surface.removeprefix("gz-")
    before = PriorLeg(surface, mode, surface, START - timedelta(minutes=20), 200, 0)
    leg = make_leg("gz-metro", "gzm-xilang", "gzm-huangsha")
    breakdown = price(fare_table, leg, make_rider(), previous_leg=before)
    assert (breakdown.transfer_fen, breakdown.charged_fen) == (100, 200)


def test_metro_to_bus_is_discounted_too(fare_table, make_leg, make_rider):
    metro = PriorLeg("gz-metro", "metro", "gz-metro", START - timedelta(minutes=10), 300, 0)
    breakdown = price(fare_table, make_leg("gz-bus"), make_rider(), previous_leg=metro)
    assert (breakdown.transfer_fen, breakdown.charged_fen) == (100, 100)


def test_only_one_discounted_transfer_per_journey(fare_table, make_leg, make_rider):
    leg = make_leg("gz-metro", "gzm-xilang", "gzm-huangsha")
    breakdown = price(fare_table, leg, make_rider(), previous_leg=bus_before(10, transfer_count=1))
    assert breakdown.transfer_fen == 0


def test_there_is_no_transfer_discount_between_two_metro_rides(fare_table, make_leg, make_rider):
    metro = PriorLeg("gz-metro", "metro", "gz-metro", START - timedelta(minutes=5), 300, 0)
    leg = make_leg("gz-metro", "gzm-xilang", "gzm-huangsha")
    assert price(fare_table, leg, make_rider(), previous_leg=metro).transfer_fen == 0


def test_a_transfer_never_makes_a_fare_negative(fare_table, make_leg, make_rider):
    metro = PriorLeg("gz-metro", "metro", "gz-metro", START - timedelta(minutes=5), 150, 0)
    breakdown = price(
        fare_table, make_leg("gz-bus"), make_rider("senior_60_64"), previous_leg=metro
    )
    assert (breakdown.concession_fen, breakdown.transfer_fen, breakdown.charged_fen) == (
        100,
        100,
        0,
    )


# --- monthly volume discount -----------------------------------------------------------------
@pytest.mark.parametrize(("paid_before", "volume"), [(14, 0), (15, 120), (40, 120)])
def test_the_16th_paid_ride_of_a_month_is_40_percent_off_and_the_15th_is_not(
    fare_table, make_leg, make_rider, paid_before, volume
):
    leg = make_leg("gz-metro", "gzm-xilang", "gzm-huangsha")
    breakdown = price(fare_table, leg, make_rider(), paid_rides_this_month=paid_before)
    assert breakdown.volume_fen == volume
    assert breakdown.charged_fen == 300 - volume
    assert ("volume_discount" in breakdown.notes) is bool(volume)


def test_the_volume_discount_covers_only_its_modes(fare_table, make_leg, make_rider):
    breakdown = price(fare_table, make_leg("gz-ferry"), make_rider(), paid_rides_this_month=30)
    assert breakdown.volume_fen == 0


# --- caps ------------------------------------------------------------------------------------
def test_the_leg_that_reaches_the_daily_cap_is_charged_only_up_to_it(
    fare_table, make_leg, make_rider
):
    leg = make_leg("gz-metro", "gzm-xilang", "gzm-huangsha")
    breakdown = price(fare_table, leg, make_rider(), charged_today_fen=1400)
    assert (breakdown.cap_fen, breakdown.charged_fen) == (200, 100)
    assert "cap_day" in breakdown.notes


@pytest.mark.parametrize("network", ["gz-bus", "gz-brt", "gz-tram"])
def test_after_the_daily_cap_rides_are_free_that_day(fare_table, make_leg, make_rider, network):
    leg = make_leg(network)
    breakdown = price(fare_table, leg, make_rider(), charged_today_fen=1500)
    assert (breakdown.cap_fen, breakdown.charged_fen) == (200, 0)


def test_the_daily_cap_does_not_cover_the_ferry(fare_table, make_leg, make_rider):
    breakdown = price(fare_table, make_leg("gz-ferry"), make_rider(), charged_today_fen=5000)
    assert breakdown.charged_fen == 200


def test_a_monthly_cap_applies_after_the_daily_one(fare_table, make_leg, make_rider):
    month = FareCap("test-month", GZ, frozenset({"metro", "bus"}), "month", 10_000)
    table = replace(fare_table, caps=(*fare_table.caps, month))
    leg = make_leg("gz-metro", "gzm-xilang", "gzm-huangsha")
    breakdown = price(table, leg, make_rider(), charged_today_fen=1300, charged_month_fen=9_950)
    assert (breakdown.cap_fen, breakdown.charged_fen) == (250, 50)
    assert breakdown.notes == ("cap_day", "cap_month")


def test_every_step_in_order(fare_table, make_leg, make_rider):
    """¥6 → half fare ¥3 → transfer ¥1 off → 40% off the ¥2 left → daily cap leaves ¥0.50."""
    leg = make_leg("gz-metro", "gzm-panyuguangchang", "gzm-tiyuxilu")
    breakdown = price(
        fare_table,
        leg,
        make_rider("senior_60_64"),
        previous_leg=bus_before(30, charged=100),
        paid_rides_this_month=20,
        charged_today_fen=1450,
    )
    assert (
        breakdown.base_fen,
        breakdown.concession_fen,
        breakdown.transfer_fen,
        breakdown.volume_fen,
        breakdown.cap_fen,
        breakdown.charged_fen,
    ) == (600, 300, 100, 80, 70, 50)
    assert breakdown.notes == ("concession", "transfer", "volume_discount", "cap_day")


# --- bicycles --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("minutes", "fen"), [(1, 0), (59, 0), (60, 0), (61, 100), (90, 100), (91, 200), (600, 1000)]
)
def test_a_bicycle_is_free_for_an_hour_then_one_yuan_per_started_half_hour(
    fare_table, make_leg, make_rider, minutes, fen
):
    breakdown = price(fare_table, make_leg("gz-bike", minutes=minutes), make_rider())
    assert breakdown.charged_fen == breakdown.base_fen == fen
    assert "duration_fare" in breakdown.notes


# --- incomplete and anomalous rides ----------------------------------------------------------
def test_an_entry_without_exit_pays_the_networks_maximum_fare(fare_table, make_leg, make_rider):
    leg = make_leg("gz-metro", "gzm-xilang", minutes=None, incomplete="no_exit")
    breakdown = price(fare_table, leg, make_rider())
    assert (breakdown.base_fen, breakdown.notes) == (800, ("max_fare_no_exit",))
    guangfo = make_leg("gf-metro", "gfm-xilang", minutes=None, incomplete="no_exit")
    assert price(fare_table, guangfo, make_rider()).base_fen == 700


def test_an_exit_without_entry_pays_the_networks_maximum_fare(fare_table, make_leg, make_rider):
    leg = make_leg("fs-metro", None, "fsm-shiwan", incomplete="no_entry")
    breakdown = price(fare_table, leg, make_rider())
    assert (breakdown.base_fen, breakdown.notes) == (500, ("max_fare_no_entry",))


@pytest.mark.parametrize(
    ("minutes", "fen", "note"),
    [
        (5, 200, "min_fare_same_station"),
        (20, 200, "min_fare_same_station"),
        (21, 800, "max_fare_same_station_late"),
    ],
)
def test_leaving_at_the_entry_station_pays_the_minimum_fare_within_20_minutes(
    fare_table, make_leg, make_rider, minutes, fen, note
):
    leg = make_leg("gz-metro", "gzm-kecun", "gzm-kecun", minutes=minutes)
    breakdown = price(fare_table, leg, make_rider())
    assert (breakdown.base_fen, breakdown.notes) == (fen, (note,))


def test_a_ride_longer_than_the_exit_timeout_pays_the_maximum_fare(
    fare_table, make_leg, make_rider
):
    on_time = make_leg("gz-metro", "gzm-xilang", "gzm-fangcun", minutes=240)
    late = make_leg("gz-metro", "gzm-xilang", "gzm-fangcun", minutes=241)
    assert price(fare_table, on_time, make_rider()).base_fen == 200
    breakdown = price(fare_table, late, make_rider())
    assert (breakdown.base_fen, breakdown.notes) == (800, ("max_fare_exit_timeout",))


def test_a_free_rider_stays_free_on_an_incomplete_ride(fare_table, make_leg, make_rider):
    leg = make_leg("gz-metro", "gzm-xilang", minutes=None, incomplete="no_exit")
    assert price(fare_table, leg, make_rider("senior_65_plus")).charged_fen == 0


# --- refusals --------------------------------------------------------------------------------
def test_an_unknown_network_is_refused(fare_table, make_leg, make_rider):
    leg = replace(make_leg("gz-bus"), network_id="hk-mtr")
    assert code_of(price_leg, leg, make_rider(), history(), fare_table) == "transit.unknown_network"


def test_an_unknown_stop_is_refused(fare_table, make_leg, make_rider):
    leg = make_leg("gz-metro", "gzm-xilang", "gzm-nowhere")
    assert code_of(price_leg, leg, make_rider(), history(), fare_table) == "transit.unknown_stop"


def test_a_station_pair_without_a_rule_is_refused(fare_table, make_leg, make_rider):
    leg = make_leg("gz-metro", "gzm-xilang", "fsm-nanzhuang")  # a Foshan station, wrong network
    assert code_of(price_leg, leg, make_rider(), history(), fare_table) == "transit.no_fare_rule"


@pytest.mark.parametrize(
    ("network", "fields"),
    [
        ("gz-taxi", {}),  # no meter reading
        ("gz-bike", {"minutes": None}),  # bicycle not returned, no rule for that
        ("gz-metro", {"incomplete": "lost"}),
        ("gz-bus", {"minutes": -5}),
    ],
)
def test_a_leg_that_cannot_be_priced_is_refused(fare_table, make_leg, make_rider, network, fields):
    leg = make_leg(network, **fields)
    assert code_of(price_leg, leg, make_rider(), history(), fare_table) == "transit.invalid_leg"


# --- the breakdown always adds up ------------------------------------------------------------
STATIONS = ["gzm-xilang", "gzm-kecun", "gzm-panyuguangchang", "gzm-tiyuxilu"]


@settings(max_examples=200, deadline=None)
@given(
    origin=st.sampled_from(STATIONS),
    destination=st.sampled_from(STATIONS),
    minutes=st.integers(0, 300),
    categories=st.sets(st.sampled_from(["senior_60_64", "senior_65_plus", "student", "minor"])),
    home=st.sampled_from([GZ, FS, SZ, "110100"]),
    gap=st.none() | st.integers(0, 200),
    paid=st.integers(0, 40),
    today=st.integers(0, 2_000),
)
def test_every_breakdown_is_non_negative_and_adds_up(
    fare_table, origin, destination, minutes, categories, home, gap, paid, today
):
    from server.transit.pricing import Leg, Rider

    end = START + timedelta(minutes=minutes)
    leg = Leg("gz-metro", "metro", GZ, "gzmetro", START, end, origin, destination)
    rider = Rider(1, home, frozenset(categories))
    previous = None if gap is None else bus_before(gap)
    breakdown = price(
        fare_table,
        leg,
        rider,
        previous_leg=previous,
        paid_rides_this_month=paid,
        charged_today_fen=today,
    )
    assert breakdown.charged_fen <= max(0, 1500 - today)
