"""Online verification through a terminal: the scene check comes first."""

from __future__ import annotations

import pytest

from server.credentials.codec import Scene
from server.errors import DomainError
from tests.terminals.conftest import nonce_count, signed

VERIFY = "/terminal/v1/verify"
CODE = "SC1:" + "0" * 305

ALLOWED = {
    "metro_gate": {"transit"},
    "bus_validator": {"transit"},
    "library_gate": {"library"},
    "library_selfcheck": {"library"},
    "venue_gate": {"venue"},
    "pos": {"voucher", "pos"},
    "kiosk": {"kiosk", "venue", "library"},
}
SCENES = ("transit", "library", "venue", "voucher", "kiosk", "pos", "generic")


def test_a_gate_verifies_a_transit_code(app, client, gate, fake_credentials):
    response = signed(client, gate, "POST", VERIFY, json_body={"code": CODE, "scene": "transit"})
    assert response.status_code == 200, response.get_json()
    out = response.get_json()
    assert out["accepted"] is True
    assert out["scene"] == "transit"
    assert out["serial"] == "81985529216486895"
    assert fake_credentials.verify_calls == [
        {
            "text": CODE,
            "scene": Scene.TRANSIT,
            "terminal_id": gate.id,
            "label": f"terminal:{gate.code}",
        }
    ]
    assert nonce_count(app) == 1


@pytest.mark.parametrize("kind", sorted(ALLOWED))
def test_scenes_per_kind(client, make_terminal, fake_credentials, kind):
    terminal = make_terminal(kind)
    for scene in SCENES:
        response = signed(
            client, terminal, "POST", VERIFY, json_body={"code": CODE, "scene": scene}
        )
        if scene in ALLOWED[kind]:
            assert response.status_code == 200, (kind, scene)
        else:
            assert response.status_code == 403, (kind, scene)
            assert response.get_json()["code"] == "terminal.scene_not_allowed"
    assert len(fake_credentials.verify_calls) == len(ALLOWED[kind])


def test_input_is_validated(client, gate, fake_credentials):
    too_long = signed(
        client, gate, "POST", VERIFY, json_body={"code": "x" * 513, "scene": "transit"}
    )
    assert too_long.get_json()["code"] == "request.validation_failed"
    unknown = signed(client, gate, "POST", VERIFY, json_body={"code": "x", "scene": "airport"})
    assert unknown.get_json()["code"] == "request.validation_failed"
    extra = signed(
        client, gate, "POST", VERIFY, json_body={"code": "x", "scene": "transit", "gate": 1}
    )
    assert extra.get_json()["code"] == "request.validation_failed"
    assert fake_credentials.verify_calls == []


def test_credential_refusals_pass_through(app, client, gate, fake_credentials, monkeypatch):
    def refuse(*args, **kwargs):
        raise DomainError("credential.replayed")

    monkeypatch.setattr(fake_credentials, "verify_online", refuse)
    response = signed(client, gate, "POST", VERIFY, json_body={"code": CODE, "scene": "transit"})
    assert response.status_code == 409
    assert response.get_json()["code"] == "credential.replayed"
    assert nonce_count(app) == 0
