"""Door-to-door rules without a database: eligibility, the lifecycle, windows, notes, masking."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from server.doorstep.rules import (
    NOT_AGED,
    NOT_DISABLED,
    NOT_ILL,
    TRANSITIONS,
    Action,
    InvalidTransition,
    Outcome,
    Reason,
    Status,
    allowed_actions,
    decode_reasons,
    eligibility,
    encode_reasons,
    mask_address,
    may_act_on_visit,
    needs_illness_confirmation,
    next_status,
    note_problems,
    status_name,
    visit_action,
    window_problems,
)

BORN = date(1946, 11, 20)
NOW = datetime(2026, 11, 20, 2, 30, tzinfo=UTC)


# --- eligibility -----------------------------------------------------------------------------


def test_a_person_is_eligible_by_age_on_the_80th_birthday():
    verdict = eligibility(BORN, date(2026, 11, 20))
    assert verdict.eligible
    assert verdict.age == 80
    assert verdict.reasons == (Reason.AGE,)


def test_the_day_before_the_80th_birthday_is_too_young():
    verdict = eligibility(BORN, date(2026, 11, 19))
    assert not verdict.eligible
    assert verdict.age == 79
    assert verdict.refusals == (NOT_AGED, NOT_DISABLED, NOT_ILL)


def test_a_birthday_on_29_february_counts_from_1_march_in_common_years():
    born = date(1944, 2, 29)
    assert not eligibility(born, date(2024, 2, 28)).eligible
    assert eligibility(born, date(2024, 2, 29)).eligible
    assert eligibility(born, date(2025, 3, 1)).age == 81


def test_a_registered_disability_level_makes_a_young_person_eligible():
    verdict = eligibility(date(1990, 1, 1), date(2026, 11, 20), disability_level=3)
    assert verdict.reasons == (Reason.DISABILITY,)


def test_a_declared_disability_certificate_makes_a_young_person_eligible():
    verdict = eligibility(date(1990, 1, 1), date(2026, 11, 20), disability_certificate=True)
    assert verdict.reasons == (Reason.DISABILITY,)


def test_a_declared_illness_makes_a_young_person_eligible():
    verdict = eligibility(date(1990, 1, 1), date(2026, 11, 20), illness_declared=True)
    assert verdict.reasons == (Reason.ILLNESS,)


def test_every_reason_that_applies_is_kept():
    verdict = eligibility(
        date(1930, 1, 1), date(2026, 11, 20), disability_level=1, illness_declared=True
    )
    assert verdict.reasons == (Reason.AGE, Reason.DISABILITY, Reason.ILLNESS)
    assert verdict.refusals == ()


def test_only_an_illness_that_is_the_sole_reason_needs_confirmation():
    assert needs_illness_confirmation([Reason.ILLNESS])
    assert not needs_illness_confirmation([Reason.AGE, Reason.ILLNESS])
    assert not needs_illness_confirmation([Reason.DISABILITY])


def test_reasons_round_trip_through_their_stored_form():
    reasons = (Reason.AGE, Reason.ILLNESS)
    assert encode_reasons(reasons) == "age_80_plus,illness"
    assert decode_reasons(encode_reasons(reasons)) == list(reasons)


# --- lifecycle -------------------------------------------------------------------------------

ALLOWED = [
    (Action.ASSIGN, Status.REQUESTED, Status.ASSIGNED),
    (Action.REASSIGN, Status.ASSIGNED, Status.ASSIGNED),
    (Action.VISIT_COMPLETED, Status.ASSIGNED, Status.VISITED),
    (Action.VISIT_RESCHEDULED, Status.ASSIGNED, Status.ASSIGNED),
    (Action.VISIT_MISSED, Status.ASSIGNED, Status.REQUESTED),
    (Action.VISIT_REFUSED, Status.ASSIGNED, Status.CANCELLED),
    (Action.COMPLETE, Status.VISITED, Status.COMPLETED),
    (Action.CANCEL, Status.REQUESTED, Status.CANCELLED),
    (Action.CANCEL, Status.ASSIGNED, Status.CANCELLED),
    (Action.CANCEL, Status.VISITED, Status.CANCELLED),
]


@pytest.mark.parametrize(("action", "current", "target"), ALLOWED)
def test_allowed_transitions(action, current, target):
    assert next_status(action, current) is target


def test_the_table_holds_exactly_the_allowed_transitions():
    assert {(a, s): t for a, s, t in ALLOWED} == TRANSITIONS


REFUSED = [
    (action, status)
    for action in Action
    for status in Status
    if (action, status) not in TRANSITIONS
]


@pytest.mark.parametrize(("action", "current"), REFUSED)
def test_every_other_transition_is_refused(action, current):
    with pytest.raises(InvalidTransition):
        next_status(action, current)


def test_completed_and_cancelled_requests_are_final():
    assert allowed_actions(Status.COMPLETED) == []
    assert allowed_actions(Status.CANCELLED) == []


def test_visit_outcomes_map_to_actions():
    assert visit_action(Outcome.COMPLETED, new_window=False) is Action.VISIT_COMPLETED
    assert visit_action(Outcome.REFUSED, new_window=False) is Action.VISIT_REFUSED
    assert visit_action(Outcome.NOT_HOME, new_window=False) is Action.VISIT_MISSED
    assert visit_action(Outcome.NOT_HOME, new_window=True) is Action.VISIT_RESCHEDULED
    assert visit_action(Outcome.NEEDS_RESCHEDULE, new_window=False) is Action.VISIT_MISSED
    assert visit_action(Outcome.NEEDS_RESCHEDULE, new_window=True) is Action.VISIT_RESCHEDULED


def test_the_assignee_or_a_city_admin_acts_on_the_visit():
    assert may_act_on_visit(7, False, 7)
    assert not may_act_on_visit(8, False, 7)
    assert may_act_on_visit(8, True, 7)
    assert not may_act_on_visit(8, False, None)


def test_status_names_are_chinese_first():
    assert status_name("assigned") == "待上门 Assigned"


# --- windows, notes, addresses ---------------------------------------------------------------


def test_a_window_tomorrow_morning_is_fine():
    start = NOW + timedelta(days=1)
    assert window_problems(start, start + timedelta(hours=2), NOW) == []


def test_a_window_that_already_began_but_has_not_ended_is_fine():
    assert window_problems(NOW - timedelta(hours=1), NOW + timedelta(hours=1), NOW) == []


@pytest.mark.parametrize(
    ("start", "end", "problem"),
    [
        (NOW + timedelta(hours=3), NOW + timedelta(hours=2), "end_before_start"),
        (NOW + timedelta(hours=1), NOW + timedelta(hours=10), "too_long"),
        (NOW - timedelta(hours=3), NOW - timedelta(hours=1), "in_past"),
        (NOW + timedelta(days=61), NOW + timedelta(days=61, hours=1), "too_far_ahead"),
    ],
)
def test_bad_windows_are_refused(start, end, problem):
    assert problem in window_problems(start, end, NOW)


def test_a_short_plain_note_is_fine():
    assert note_problems("家中无人，已电话联系家属改约") == []


@pytest.mark.parametrize(
    "note", ["联系电话 13812345678", "证件 44010619900101123X", "138 1234 5678", "卡号6222021234"]
)
def test_notes_with_personal_numbers_are_refused(note):
    assert "personal_data" in note_problems(note)


def test_a_note_over_100_characters_is_refused():
    assert note_problems("很" * 101) == ["too_long"]
    assert note_problems("很" * 100) == []


def test_the_masked_address_keeps_the_street_and_hides_the_numbers():
    assert mask_address("东风中路 318 号 3 栋 602 房") == "东风中路****"
    assert mask_address("12 号楼 301") == "****"
    assert mask_address("幸福里小区") == "幸福里小****"
