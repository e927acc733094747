"""The offline side: lists from documents, delta merging, the gate's replay cache and queue."""

from __future__ import annotations

import base64

import pytest

from server.credentials.codec import Scene
from server.credentials.verifier import Refused
from server.terminals.offline import (
    OfflineGate,
    apply_revocation_delta,
    category_names,
    verifier_from_documents,
)
from tests.credentials._support import (
    DAY,
    ISSUER_1,
    NOW,
    OTHER_PSEUDONYM,
    PSEUDONYM,
    SERIAL,
    SKEW,
    TTL,
    cert,
    pres_text,
    server_text,
)

KW = {"clock_skew_s": SKEW, "presentation_ttl_s": TTL}


def trust_doc(version: int = 1) -> dict:
    return {
        "version": version,
        "generated_at": "2026-05-28T20:26:40+00:00",
        "keys": [
            {
                "kid": 1,
                "public_key": base64.b64encode(ISSUER_1.public_key().public_bytes_raw()).decode(),
                "not_before": NOW - 30 * DAY,
                "not_after": NOW + 60 * DAY,
            }
        ],
    }


def full(version: int, serials=(), pseudonyms=()) -> dict:
    return {
        "version": version,
        "since": None,
        "full": True,
        "add": {
            "serials": [{"serial": str(s), "reason": r} for s, r in serials],
            "pseudonyms": [{"pseudonym": p, "reason": r} for p, r in pseudonyms],
        },
        "remove": {"serials": [], "pseudonyms": []},
    }


def delta(since: int, version: int, add_serials=(), remove_serials=(), add_pseudonyms=()) -> dict:
    return {
        "version": version,
        "since": since,
        "full": False,
        "add": {
            "serials": [{"serial": str(s), "reason": r} for s, r in add_serials],
            "pseudonyms": [{"pseudonym": p, "reason": r} for p, r in add_pseudonyms],
        },
        "remove": {"serials": [str(s) for s in remove_serials], "pseudonyms": []},
    }


# --- verifier from documents ----------------------------------------------------------------------


def test_verifier_from_documents_accepts_and_revokes():
    verifier = verifier_from_documents(trust_doc(), full(5), **KW)
    accepted = verifier.verify(pres_text(), scene=Scene.TRANSIT, now=NOW)
    assert accepted.serial == SERIAL
    assert verifier.trust_list.version == 1 and verifier.revocation_list.version == 5

    by_serial = verifier_from_documents(trust_doc(), full(5, serials=[(SERIAL, "lost")]), **KW)
    with pytest.raises(Refused) as exc:
        by_serial.verify(pres_text(), scene=Scene.TRANSIT, now=NOW)
    assert (exc.value.code, exc.value.reason) == ("revoked", "lost")

    by_card = verifier_from_documents(
        trust_doc(), full(5, pseudonyms=[(PSEUDONYM.hex(), "sealed")]), **KW
    )
    with pytest.raises(Refused) as exc:
        by_card.verify(server_text(), scene=Scene.LIBRARY, now=NOW)
    assert (exc.value.code, exc.value.reason) == ("revoked", "sealed")


def test_malformed_documents():
    broken_key = trust_doc()
    broken_key["keys"][0]["public_key"] = "not base64!"
    with pytest.raises(ValueError):
        verifier_from_documents(broken_key, full(1))
    with pytest.raises(ValueError):
        verifier_from_documents({"version": 1}, full(1))
    with pytest.raises(ValueError):  # a delta is not a list
        verifier_from_documents(trust_doc(), delta(1, 2))
    with pytest.raises(ValueError):
        verifier_from_documents(trust_doc(), full(1, pseudonyms=[("abcd", "short")]))
    with pytest.raises(ValueError):
        verifier_from_documents(trust_doc(), full(1, serials=[("-3", "negative")]))


# --- delta merging --------------------------------------------------------------------------------


def test_delta_merge():
    current = full(10, serials=[(1, "lost"), (2, "sealed")], pseudonyms=[(PSEUDONYM.hex(), "x")])
    merged = apply_revocation_delta(
        current,
        delta(
            10,
            14,
            add_serials=[(3, "overdue")],
            remove_serials=[1],
            add_pseudonyms=[(OTHER_PSEUDONYM.hex().upper(), "lost")],
        ),
    )
    assert merged["version"] == 14 and merged["full"] is True and merged["since"] is None
    assert merged["add"]["serials"] == [
        {"serial": "2", "reason": "sealed"},
        {"serial": "3", "reason": "overdue"},
    ]
    assert {p["pseudonym"] for p in merged["add"]["pseudonyms"]} == {
        PSEUDONYM.hex(),
        OTHER_PSEUDONYM.hex(),
    }
    assert merged["remove"] == {"serials": [], "pseudonyms": []}
    assert current["version"] == 10  # the input is not changed


def test_an_entry_both_removed_and_added_stays_revoked():
    merged = apply_revocation_delta(
        full(1), delta(1, 2, add_serials=[(9, "lost")], remove_serials=[9])
    )
    assert merged["add"]["serials"] == [{"serial": "9", "reason": "lost"}]


def test_an_empty_delta_at_the_same_version():
    assert apply_revocation_delta(full(7, serials=[(1, "x")]), delta(7, 7)) == full(
        7, serials=[(1, "x")]
    )


@pytest.mark.parametrize(
    "bad",
    [
        delta(9, 14),  # skipped version 10 → gap
        delta(11, 14),  # starts after what the gate has
        {**delta(10, 14), "since": None},
        delta(10, 8),  # goes backwards
    ],
)
def test_version_gaps_need_the_full_list(bad):
    with pytest.raises(ValueError):
        apply_revocation_delta(full(10), bad)


def test_a_full_document_replaces_the_current_one():
    merged = apply_revocation_delta(full(10, serials=[(1, "x")]), full(20, serials=[(2, "y")]))
    assert merged == full(20, serials=[(2, "y")])


def test_merging_into_a_delta_is_refused():
    with pytest.raises(ValueError):
        apply_revocation_delta(delta(1, 2), delta(2, 3))


# --- the gate -------------------------------------------------------------------------------------


def test_gate_accepts_once_and_queues_the_tap():
    gate = OfflineGate(trust_doc(), full(10), **KW)
    text = pres_text(counter=42)
    result = gate.scan(text + "\r\n", Scene.TRANSIT, NOW)
    assert result["accepted"] is True
    assert result["local_seq"] == 1
    assert result["serial"] == str(SERIAL)
    assert result["scene"] == "transit"
    assert result["categories"] == ["senior_65_plus", "disabled"]
    assert result["home_city"] == "440300"

    again = gate.scan(text, "transit", NOW + 1)
    assert again == {"accepted": False, "code": "credential.replayed", "reason": None}
    wrong_place = gate.scan(pres_text(counter=43), "library", NOW)
    assert wrong_place["code"] == "credential.wrong_scene"

    second = gate.scan(pres_text(counter=44), {"transit", Scene.VENUE}, NOW)
    assert second["local_seq"] == 2
    queue = gate.pending()
    assert [(t["local_seq"], t["text"]) for t in queue] == [(1, text), (2, pres_text(counter=44))]
    assert queue[0]["scanned_at"] == "2026-05-28T20:26:40+00:00"
    assert gate.acknowledge(1) == 1
    assert [t["local_seq"] for t in gate.pending()] == [2]
    assert gate.next_seq == 3


def test_gate_refresh_with_a_delta_and_a_gap():
    gate = OfflineGate(trust_doc(), full(10), next_seq=100, **KW)
    gate.refresh(None, delta(10, 11, add_serials=[(SERIAL, "lost")]))
    assert gate.revocation_version == 11
    refused = gate.scan(pres_text(counter=1), Scene.TRANSIT, NOW)
    assert refused == {"accepted": False, "code": "credential.revoked", "reason": "lost"}
    assert gate.pending() == []

    with pytest.raises(ValueError):
        gate.refresh(trust_doc(2), delta(12, 13, remove_serials=[SERIAL]))
    assert gate.revocation_version == 11 and gate.trust_version == 1  # nothing changed

    gate.refresh(trust_doc(2), full(20))
    assert (gate.trust_version, gate.revocation_version) == (2, 20)
    accepted = gate.scan(pres_text(counter=2), Scene.TRANSIT, NOW)
    assert accepted["local_seq"] == 100


def test_gate_refresh_keeps_the_replay_cache():
    gate = OfflineGate(trust_doc(), full(1), **KW)
    text = pres_text(counter=7)
    assert gate.scan(text, Scene.TRANSIT, NOW)["accepted"]
    gate.refresh(trust_doc(2), full(2))
    assert gate.scan(text, Scene.TRANSIT, NOW)["code"] == "credential.replayed"


def test_gate_with_an_untrusted_issuer():
    doc = trust_doc()
    doc["keys"] = []
    gate = OfflineGate(doc, full(1), **KW)
    assert gate.scan(pres_text(), Scene.TRANSIT, NOW)["code"] == "credential.unknown_issuer"


def test_the_gate_needs_a_full_list_to_start():
    with pytest.raises(ValueError):
        OfflineGate(trust_doc(), delta(1, 2))


def test_category_names():
    assert category_names(cert().categories) == ["senior_65_plus", "disabled"]
