"""Importing fare data: validation row by row, atomic replacement, the cached table, the CLI."""

from __future__ import annotations

import json
import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from server.errors import DomainError
from server.transit import models as m
from server.transit.fares import (
    DEMO_DIR,
    FILES,
    import_fares,
    load_fare_table,
    read_fare_directory,
)
from server.transit.pricing import History
from server.transit.rules import price_leg
from tools import make_demo_fares


def demo_copy(tmp_path: Path) -> Path:
    target = tmp_path / "fares"
    shutil.copytree(DEMO_DIR, target)
    return target


def edit(path: Path, old: str, new: str, count: int = 1) -> None:
    content = path.read_text(encoding="utf-8")
    assert old in content, old
    path.write_text(content.replace(old, new, count), encoding="utf-8")


def errors_of(directory: Path) -> list[dict]:
    with pytest.raises(DomainError) as caught:
        read_fare_directory(directory)
    assert caught.value.code == "transit.fare_data_invalid"
    return caught.value.extra["errors"]


def located(errors: list[dict]) -> set[tuple]:
    return {(e["file"], e["line"], e["column"], e["code"]) for e in errors}


def table_counts(session) -> dict[str, int]:
    counts = {
        spec.name: session.scalar(select(func.count()).select_from(spec.model)) for spec in FILES
    }
    counts["fare_import"] = session.scalar(select(func.count()).select_from(m.FareImport))
    return counts


def line_of(path: Path, needle: str) -> int:
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in text:
            return number
    raise AssertionError(needle)


# --- the demo data ---------------------------------------------------------------------------
def test_regenerating_the_demo_data_gives_the_committed_files():
    assert make_demo_fares.differences() == []


def test_the_demo_directory_imports_and_prices_like_the_csv_files(session, now, fare_table):
    report = import_fares(session, DEMO_DIR, now)
    assert report.rows["fare_leg_rules"] == 342 + 90 + 56 + 10  # three metros, ten flat fares
    assert report.rows["fare_products"] == len(fare_table_products(fare_table)) + 1
    assert set(report.files) == {f"{spec.name}.csv" for spec in FILES}
    assert report.unknown_columns == {}
    stored = session.get(m.FareImport, report.import_id)
    assert json.loads(stored.row_counts) == report.rows

    table = load_fare_table(session)
    assert table.version == report.import_id
    assert table.networks == fare_table.networks
    assert set(table.concessions) == set(fare_table.concessions)
    assert table.transfer_rules == fare_table.transfer_rules
    assert table.duration_fares == fare_table.duration_fares
    assert table.caps == fare_table.caps
    assert {k: set(v) for k, v in table.leg_rules.items()} == {
        k: set(v) for k, v in fare_table.leg_rules.items()
    }


def fare_table_products(table) -> set[str]:
    return {r.fare_product_id for rules in table.leg_rules.values() for r in rules}


def test_a_loaded_table_prices_a_foshan_senior_in_guangzhou(session, now):
    from server.transit.pricing import Leg, Rider

    import_fares(session, DEMO_DIR, now)
    table = load_fare_table(session)
    end = now + timedelta(minutes=50)
    leg = Leg(
        "gz-metro", "metro", "440100", "gzmetro", now, end, "gzm-panyuguangchang", "gzm-xilang"
    )
    rider = Rider(7, "440600", frozenset({"senior_65_plus"}))
    breakdown = price_leg(leg, rider, History(service_date=date(2026, 11, 20)), table)
    assert (breakdown.base_fen, breakdown.charged_fen) == (800, 0)
    assert "same_city_treatment" in breakdown.notes


def test_the_table_is_cached_until_the_next_import(session, now, tmp_path):
    first = import_fares(session, DEMO_DIR, now)
    table = load_fare_table(session)
    assert load_fare_table(session) is table

    changed = demo_copy(tmp_path)
    edit(
        changed / "fare_products.csv",
        "gz-bus-2yuan,gz-bus ¥2.00 单程 single ride,,,2.00",
        "gz-bus-2yuan,gz-bus,,,2.50",
    )
    second = import_fares(session, changed, now + timedelta(hours=1))
    assert second.import_id > first.import_id
    reloaded = load_fare_table(session)
    assert reloaded.version == second.import_id
    assert reloaded.leg_rules["gz-bus"][0].amount_fen == 250


def test_an_empty_database_has_an_empty_fare_table(session):
    assert load_fare_table(session).version is None


# --- invalid data: every error reported, nothing written -------------------------------------
def test_errors_in_several_files_are_all_reported_and_nothing_is_written(session, now, tmp_path):
    import_fares(session, DEMO_DIR, now)
    before = table_counts(session)

    bad = demo_copy(tmp_path)
    edit(bad / "fare_products.csv", ",2.00,CNY", ",2.005,CNY")  # the first 2-yuan product
    edit(bad / "networks.csv", ",gzbus,", ",gz-buses,")
    edit(bad / "operators.csv", ",bus\n", ",rocket\n")
    edit(bad / "fare_caps.csv", ",440100,", ",999999,")
    edit(bad / "concession_policies.csv", "gz-s60-bus,", "gz-s65-bus,")
    edit(bad / "concession_policies.csv", ",20210901,", ",2021-09-01,")
    edit(bad / "volume_discounts.csv", "percent_off,", "percent,")
    edit(bad / "stops.csv", "gzm-kecun,客村,,,440100", "gzm-kecun,客村,,,440100,extra")

    with pytest.raises(DomainError) as caught:
        import_fares(session, bad, now + timedelta(hours=1))
    assert caught.value.code == "transit.fare_data_invalid"
    errors = caught.value.extra["errors"]
    policies = bad / "concession_policies.csv"
    expected = {
        ("fare_products.csv", 2, "amount", "bad_amount"),
        (
            "networks.csv",
            line_of(bad / "networks.csv", "gz-buses"),
            "operator_id",
            "unknown_reference",
        ),
        ("operators.csv", line_of(bad / "operators.csv", "rocket"), "mode", "unknown_mode"),
        ("fare_caps.csv", 2, "city_code", "unknown_city"),
        (
            "concession_policies.csv",
            line_of(policies, "gz-s65-bus,440100,bus,senior_60_64"),
            "policy_id",
            "duplicate_key",
        ),
        ("concession_policies.csv", line_of(policies, "2021-09-01"), "valid_from", "bad_date"),
        ("volume_discounts.csv", 1, "percent_off", "missing_column"),
        ("stops.csv", line_of(bad / "stops.csv", "extra"), None, "bad_row"),
    }
    assert expected <= located(errors)
    assert all(e["message"] for e in errors)
    session.rollback()
    assert table_counts(session) == before


def test_the_cli_imports_the_demo_data_and_prints_a_report(runner):
    result = runner.invoke(args=["transit", "import-fares", str(DEMO_DIR)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["ok"] is True
    assert report["import_id"] >= 1
    assert report["rows"]["concession_policies"] == 65


def test_the_cli_exits_1_with_the_row_errors_on_bad_data(runner, tmp_path):
    bad = demo_copy(tmp_path)
    edit(bad / "fare_caps.csv", ",15.00", ",-15.00")
    result = runner.invoke(args=["transit", "import-fares", str(bad)])
    assert result.exit_code == 1
    body = json.loads(result.output)
    assert body["code"] == "transit.fare_data_invalid"
    assert [(e["file"], e["line"], e["column"], e["code"]) for e in body["errors"]] == [
        ("fare_caps.csv", 2, "amount", "bad_amount")
    ]


# --- validation rules, file by file (no database) --------------------------------------------
def test_a_missing_required_file_is_reported(tmp_path):
    bad = demo_copy(tmp_path)
    (bad / "fare_leg_rules.csv").unlink()
    errors = errors_of(bad)
    assert ("fare_leg_rules.csv", None, None, "missing_file") in located(errors)


def test_gtfs_txt_names_and_a_byte_order_mark_are_accepted(tmp_path):
    folder = demo_copy(tmp_path)
    content = (folder / "networks.csv").read_bytes()
    (folder / "networks.csv").unlink()
    (folder / "networks.txt").write_bytes(b"\xef\xbb\xbf" + content)
    data = read_fare_directory(folder)
    assert "networks.txt" in data.file_hashes
    assert len(data.rows["networks"]) == len(make_demo_fares.NETWORKS)


def test_unknown_columns_are_ignored_and_listed(tmp_path):
    folder = demo_copy(tmp_path)
    edit(folder / "areas.csv", "area_id,area_name", "area_id,area_name,area_colour")
    data = read_fare_directory(folder)
    assert data.unknown_columns == {"areas.csv": ["area_colour"]}


@pytest.mark.parametrize(
    ("amount", "code"),
    [
        ("2.005", "bad_amount"),
        ("2.000", "bad_amount"),
        ("two", "bad_amount"),
        ("1e2", "bad_amount"),
        ("", "missing_value"),
    ],
)
def test_amounts_are_decimal_yuan_with_at_most_two_decimals(tmp_path, amount, code):
    bad = demo_copy(tmp_path)
    edit(bad / "fare_products.csv", ",2.00,CNY", f",{amount},CNY")
    assert located(errors_of(bad)) == {("fare_products.csv", 2, "amount", code)}


def test_amounts_become_integer_fen(tmp_path):
    folder = demo_copy(tmp_path)
    edit(folder / "fare_products.csv", ",2.00,CNY", ",2.5,CNY")
    rows = read_fare_directory(folder).rows["fare_products"]
    assert rows[0]["amount_fen"] == 250
    assert isinstance(rows[0]["amount_fen"], int)


def test_a_negative_product_may_only_be_a_transfer_discount(tmp_path):
    bad = demo_copy(tmp_path)
    edit(bad / "fare_products.csv", ",2.00,CNY", ",-2.00,CNY")  # dg-bus-2yuan, a leg product
    line = line_of(bad / "fare_leg_rules.csv", "dg-bus-2yuan")
    assert located(errors_of(bad)) == {
        ("fare_leg_rules.csv", line, "fare_product_id", "bad_amount")
    }


def test_only_cny_is_accepted(tmp_path):
    bad = demo_copy(tmp_path)
    edit(bad / "fare_products.csv", ",2.00,CNY", ",2.00,HKD")
    assert located(errors_of(bad)) == {("fare_products.csv", 2, "currency", "bad_currency")}


def test_transfer_rules_must_be_evaluable(tmp_path):
    bad = demo_copy(tmp_path)
    path = bad / "fare_transfer_rules.csv"
    edit(path, "gz-bus,gz-metro,1,5400,2,1,", "gz-bus,gz-metro,1,5400,0,1,")
    edit(path, "gz-metro,gz-bus,1,5400,2,1,", "gz-metro,gz-monorail,1,5400,2,1,")
    edit(path, "gz-bus,gf-metro,1,5400,2,1,", "gz-bus,gz-bus,,5400,2,1,")
    assert located(errors_of(bad)) == {
        ("fare_transfer_rules.csv", 2, "duration_limit_type", "unsupported_value"),
        ("fare_transfer_rules.csv", 3, "to_leg_group_id", "unknown_reference"),
        ("fare_transfer_rules.csv", 4, "transfer_count", "missing_value"),
    }


def test_overlapping_caps_and_two_default_categories_are_refused(tmp_path):
    bad = demo_copy(tmp_path)
    with (bad / "fare_caps.csv").open("a", encoding="utf-8") as f:
        f.write("gz-bus-cap,440100,bus,day,10.00\n")
    edit(bad / "rider_categories.csv", "student,学生 Student,0", "student,学生 Student,1")
    line = line_of(bad / "rider_categories.csv", "student")
    assert located(errors_of(bad)) == {
        ("fare_caps.csv", 3, "modes", "overlapping_rule"),
        ("rider_categories.csv", line, "is_default_fare_category", "bad_value"),
    }


def test_concession_policies_are_checked_for_consistency(tmp_path):
    bad = demo_copy(tmp_path)
    path = bad / "concession_policies.csv"
    edit(
        path,
        "gz-s65-metro,440100,metro,senior_65_plus,free,,",
        "gz-s65-metro,440100,plane,senior_65_plus,free,,",
    )
    edit(
        path,
        "gz-s60-metro,440100,metro,senior_60_64,percent,50,",
        "gz-s60-metro,440100,metro,senior_60_64,percent,,",
    )
    edit(
        path,
        "gz-dis-metro,440100,metro,disabled,free,,20210101,,",
        "gz-dis-metro,440100,metro,disabled,free,,20210101,20201231,",
    )
    edit(
        path,
        "gz-stu-metro,440100,metro,student,percent,50,20210901,,guangdong",
        "gz-stu-metro,440100,metro,pupil,percent,50,20210901,,everywhere",
    )
    name = "concession_policies.csv"

    def line(policy: str) -> int:
        return line_of(path, policy + ",")

    assert located(errors_of(bad)) == {
        (name, line("gz-s65-metro"), "mode", "unknown_mode"),
        (name, line("gz-s60-metro"), "percent_off", "missing_value"),
        (name, line("gz-dis-metro"), "valid_to", "bad_date_range"),
        (name, line("gz-stu-metro"), "rider_category_id", "unknown_reference"),
        (name, line("gz-stu-metro"), "other_cities", "bad_value"),
    }


def test_a_file_that_is_not_utf8_is_reported(tmp_path):
    bad = demo_copy(tmp_path)
    (bad / "areas.csv").write_bytes("area_id,area_name\nx,广州\n".encode("gb18030"))
    assert located(errors_of(bad)) >= {("areas.csv", None, None, "bad_encoding")}


def test_a_directory_that_does_not_exist_is_reported(tmp_path):
    assert located(errors_of(tmp_path / "nope")) == {(None, None, None, "missing_file")}
