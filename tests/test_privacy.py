"""Personal data never sits in the database in plain text and never reaches a log."""

from __future__ import annotations

import json
import logging

from server.logs import redact
from tests.conftest import plaintext_hits


def seeded_numbers(runner) -> tuple[list[str], dict]:
    result = runner.invoke(args=["seed", "demo", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output.strip().splitlines()[-1])
    return [p["id_number"] for p in data["people"]], data


def test_the_database_holds_no_id_phone_or_bank_number_in_plain_text(app, runner):
    numbers, _ = seeded_numbers(runner)
    needles = [*numbers, "13800000001", "13800000014"]
    from server.registry.demo import demo_bank_account

    needles.append(demo_bank_account(1))
    hits, scanned = plaintext_hits(app, needles)
    assert scanned > 1000
    assert hits == []


def test_logs_hold_no_personal_numbers(app, client, runner, branch, person_payload, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    numbers, _ = seeded_numbers(runner)
    client.post("/staff/v1/persons", json=person_payload, headers=branch.headers)
    client.post("/staff/v1/persons", json=person_payload, headers=branch.headers)  # 409
    bad = dict(person_payload, id_number=person_payload["id_number"][:17] + "0")
    client.post("/staff/v1/persons", json=bad, headers=branch.headers)
    client.post("/staff/v1/persons/search", json={"id_number": numbers[0]}, headers=branch.headers)
    client.get(f"/staff/v1/persons/1?id={numbers[1]}", headers=branch.headers)
    captured = capfd.readouterr()
    text = caplog.text + captured.err + captured.out
    assert "request" in text  # the access log was captured at all
    for needle in [
        *numbers,
        person_payload["id_number"],
        person_payload["phone"],
        bad["id_number"],
    ]:
        assert needle not in text


def test_the_log_filter_masks_numbers_that_slip_through():
    assert redact("id 44010619900101123X phone 13812345678 card 6222021234567890123") == (
        "id [REDACTED] phone [REDACTED] card [REDACTED]"
    )
    assert redact("ref 2026112900001234") == "ref [REDACTED]"  # any 16+ digit run is masked
    assert redact("request 12345 ok") == "request 12345 ok"


def test_the_development_server_request_line_is_dropped_not_its_start_up_lines(app):
    from server.logs import DropDevServerRequestLines

    dev_server = logging.getLogger("werkzeug")
    assert any(isinstance(f, DropDevServerRequestLines) for f in dev_server.filters)
    request_line = logging.LogRecord(
        "werkzeug",
        logging.INFO,
        __file__,
        1,
        '127.0.0.1 - - [29/Nov/2026 03:44:18] "%s" %s %s\n',
        ("POST /terminal/v1/activations/handle/identity HTTP/1.1", "200", "-"),
        None,
    )
    start_up = logging.LogRecord(
        "werkzeug", logging.INFO, __file__, 1, " * Running on %s", ("http://127.0.0.1",), None
    )
    assert not dev_server.filter(request_line)
    assert dev_server.filter(start_up)
