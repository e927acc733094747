"""A cardholder's door-to-door requests are rate limited (a name check must not become an oracle
for whose ID number is whose); staff record a visit after the fact with its real time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import time_machine

from server.clock import utcnow
from server.doorstep.models import DoorstepRequest, DoorstepVisit
from tests.doorstep.conftest import count, payload, window
from tests.doorstep.test_mobile_api import BASE, family_body


def test_name_checks_are_limited_per_cardholder(app, client, make_cardholder, make_card):
    make_card(state="applied")  # the aged person is registered: her name is checked
    app.config["SSC_RATELIMIT_DOORSTEP_REQUEST"] = "3 per day"
    prober, other = make_cardholder(), make_cardholder()
    guesses = ["张三", "李四", "王五"]
    for name in guesses:
        response = client.post(BASE, json=family_body(subject_name=name), headers=prober)
        assert response.status_code == 422, response.get_json()
        assert response.get_json()["code"] == "doorstep.name_mismatch"
    limited = client.post(BASE, json=family_body(), headers=prober)  # even the right name
    assert limited.status_code == 429
    assert limited.get_json()["code"] == "request.rate_limited"
    assert limited.headers["Content-Type"].startswith("application/problem+json")
    assert "Retry-After" in limited.headers
    assert count(app, DoorstepRequest) == 0
    # Another cardholder from the same address is counted on their own.
    allowed = client.post(BASE, json=family_body(), headers=other)
    assert allowed.status_code == 201, allowed.get_json()
    # A day later the prober may ask again.
    with time_machine.travel(utcnow() + timedelta(days=1, minutes=1), tick=False):
        again = client.post(BASE, json=family_body(subject_name="赵六"), headers=prober)
        assert again.status_code != 429


def test_the_default_allows_five_requests_a_day(app, client, make_cardholder, make_card):
    make_card(state="applied")
    assert app.config["SSC_RATELIMIT_DOORSTEP_REQUEST"] == "5 per day"
    headers = make_cardholder()
    codes = [
        client.post(BASE, json=family_body(subject_name="张三"), headers=headers).status_code
        for _ in range(6)
    ]
    assert codes[:5] == [422] * 5
    assert codes[5] == 429


def test_the_limit_reads_its_environment_variable():
    from server.config import ENV_VARS, load_env

    assert "SSC_RATELIMIT_DOORSTEP_REQUEST" in ENV_VARS
    env = load_env({"SSC_RATELIMIT_DOORSTEP_REQUEST": "2 per hour"})
    assert env["SSC_RATELIMIT_DOORSTEP_REQUEST"] == "2 per hour"


# --- the time of a visit -------------------------------------------------------------------


def assigned_yesterday(client, branch) -> tuple[int, datetime]:
    """A request made and assigned 26 hours ago; its id and creation time."""
    with time_machine.travel(utcnow() - timedelta(hours=26), tick=False):
        made = client.post("/staff/v1/doorstep-requests", json=payload(), headers=branch.headers)
        assert made.status_code == 201, made.get_json()
        request_id = made.get_json()["id"]
        start, end = window(hours=2)
        assigned = client.post(
            f"/staff/v1/doorstep-requests/{request_id}/assign",
            json={
                "staff_id": branch.id,
                "planned_from": start,
                "planned_to": end,
                "illness_confirmed": True,
            },
            headers=branch.headers,
        )
        assert assigned.status_code == 200, assigned.get_json()
        created = utcnow()
    return request_id, created


def visit(client, branch, request_id, **body):
    return client.post(
        f"/staff/v1/doorstep-requests/{request_id}/visits",
        json={"outcome": "completed", **body},
        headers=branch.headers,
    )


def test_a_visit_is_recorded_after_the_fact_with_its_time(app, client, branch):
    request_id, _ = assigned_yesterday(client, branch)
    at = (utcnow() - timedelta(hours=3)).replace(microsecond=0)
    response = visit(client, branch, request_id, visited_at=at.isoformat())
    assert response.status_code == 201, response.get_json()
    [seen] = response.get_json()["visits"]
    assert datetime.fromisoformat(seen["visited_at"]) == at
    assert seen["visited_at"].endswith("+08:00")
    assert response.get_json()["status"] == "visited"


def test_a_visit_without_a_time_is_recorded_now(app, client, branch):
    request_id, _ = assigned_yesterday(client, branch)
    before = utcnow()
    response = visit(client, branch, request_id)
    assert response.status_code == 201
    at = datetime.fromisoformat(response.get_json()["visits"][0]["visited_at"])
    assert before - timedelta(seconds=1) <= at <= utcnow() + timedelta(seconds=1)


def test_a_visit_time_in_the_future_or_before_the_request_is_refused(app, client, branch):
    request_id, created = assigned_yesterday(client, branch)
    cases = [
        (utcnow() + timedelta(hours=1), ["in_future"]),
        (created - timedelta(minutes=5), ["before_request"]),
    ]
    for at, problems in cases:
        response = visit(client, branch, request_id, visited_at=at.isoformat())
        assert response.status_code == 422
        assert response.get_json()["code"] == "doorstep.invalid_visit_time"
        assert response.get_json()["problems"] == problems
    naive = visit(client, branch, request_id, visited_at="2026-01-01T10:00:00")
    assert naive.get_json()["code"] == "request.validation_failed"
    assert count(app, DoorstepVisit) == 0
    detail = client.get(f"/staff/v1/doorstep-requests/{request_id}", headers=branch.headers)
    assert detail.get_json()["status"] == "assigned"
    # A staff device's clock a minute ahead of the server is tolerated.
    ahead = visit(
        client, branch, request_id, visited_at=(utcnow() + timedelta(minutes=1)).isoformat()
    )
    assert ahead.status_code == 201, ahead.get_json()


def test_visit_time_rules():
    from server.doorstep.rules import VISIT_CLOCK_SKEW, visit_time_problems

    now = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)
    made = now - timedelta(days=2)
    assert visit_time_problems(now, made, now) == []
    assert visit_time_problems(made, made, now) == []
    assert visit_time_problems(now + VISIT_CLOCK_SKEW, made, now) == []
    assert visit_time_problems(now + VISIT_CLOCK_SKEW + timedelta(seconds=1), made, now) == [
        "in_future"
    ]
    assert visit_time_problems(made - timedelta(seconds=1), made, now) == ["before_request"]
