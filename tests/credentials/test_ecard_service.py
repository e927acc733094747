"""Signing the e-card, certificates, online verification, revocation, server and fallback codes."""

from __future__ import annotations

import base64
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from server.clock import utcnow
from server.credentials import service
from server.credentials.codec import Certificate, Scene, decode, encode, make_presentation
from server.credentials.models import CredentialUse
from server.errors import DomainError
from server.extensions import db


def presentation(signed, phone, *, scene=Scene.TRANSIT, counter=1, at=None) -> str:
    cert = Certificate.from_bytes(base64.b64decode(signed["certificate"]["certificate"]))
    return encode(make_presentation(cert, phone.key, scene, at or utcnow(), counter))


def verify(app, text, scene=Scene.TRANSIT, now=None):
    with app.app_context():
        try:
            return service.verify_online(
                db.session, text=text, scene=scene, terminal_id=None, now=now or utcnow()
            )
        finally:
            db.session.remove()


def refusal(app, text, scene=Scene.TRANSIT, now=None) -> str:
    with pytest.raises(DomainError) as excinfo:
        verify(app, text, scene, now)
    return excinfo.value.code


def uses(app) -> int:
    with app.app_context():
        n = db.session.execute(select(func.count()).select_from(CredentialUse)).scalar_one()
        db.session.remove()
        return n


def test_signing_returns_a_certificate_without_the_id_number(signed, holder):
    cert = signed["certificate"]
    assert cert["categories"] == ["senior_65_plus"]
    assert cert["home_city"] == "440100"
    assert len(signed["fallback_secret"]) >= 16
    raw = base64.b64decode(cert["certificate"])
    assert len(raw) == 130
    assert b"440104" not in raw


def test_a_presentation_is_accepted_once(app, signed, phone):
    text = presentation(signed, phone)
    accepted = verify(app, text)
    assert accepted["accepted"] is True
    assert accepted["kind"] == "device"
    assert refusal(app, text) == "credential.replayed"
    assert uses(app) == 1


def test_a_refused_code_records_nothing(app, signed, phone):
    assert (
        refusal(app, presentation(signed, phone, scene=Scene.LIBRARY)) == "credential.wrong_scene"
    )
    old = presentation(signed, phone, at=utcnow() - timedelta(minutes=5))
    assert refusal(app, old) == "credential.expired"
    assert refusal(app, "SC1:NOT-A-CODE") == "credential.malformed"
    assert uses(app) == 0


def test_a_code_signed_by_another_key_fails_the_device_signature(app, signed, phone):
    import dataclasses

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    genuine = decode(presentation(signed, phone))
    thief = Ed25519PrivateKey.generate()
    forged = dataclasses.replace(genuine, device_signature=thief.sign(genuine.signature_input()))
    assert refusal(app, encode(forged)) == "credential.bad_device_signature"


def test_reporting_the_card_lost_from_the_phone_revokes_at_once(app, client, holder, signed, phone):
    response = client.post("/mobile/v1/card/report-loss", json={}, headers=holder.headers)
    assert response.status_code == 200
    assert response.get_json()["state"] == "suspended"
    assert refusal(app, presentation(signed, phone)) == "credential.revoked"
    with app.app_context():
        doc = service.revocation_list_document(db.session, None, utcnow())
    assert [s["serial"] for s in doc["add"]["serials"]] == [signed["certificate"]["serial"]]
    assert [p["reason"] for p in doc["add"]["pseudonyms"]] == ["lost"]


def test_a_found_card_leaves_the_list_and_the_phone_renews(
    app, client, holder, branch, signed, phone
):
    client.post("/mobile/v1/card/report-loss", json={}, headers=holder.headers)
    with app.app_context():
        version = service.revocation_version(db.session)
    found = client.post(
        f"/staff/v1/cards/{holder.card_id}/report-found", json={}, headers=branch.headers
    )
    assert found.status_code == 200
    with app.app_context():
        delta = service.revocation_list_document(db.session, version, utcnow())
    assert delta["full"] is False
    assert len(delta["remove"]["pseudonyms"]) == 1
    renewed = client.post(
        f"/mobile/v1/ecard/channels/{signed['channel']['id']}/certificate", headers=holder.headers
    )
    assert renewed.status_code == 200
    fresh = {"certificate": renewed.get_json()}
    assert verify(app, presentation(fresh, phone))["accepted"] is True


def test_only_an_active_card_can_sign(client, holder, branch, phone):
    client.post(f"/staff/v1/cards/{holder.card_id}/report-loss", json={}, headers=branch.headers)
    response = client.post(
        "/mobile/v1/ecard",
        json={"public_key": phone.public_b64, "app_id": "gd-hrss", "device_label": "x"},
        headers=holder.headers,
    )
    assert response.status_code == 409
    assert response.get_json()["code"] == "card.not_active"


def test_at_most_three_apps_and_the_same_app_replaces_its_channel(client, holder, phone):
    def sign(app_id):
        return client.post(
            "/mobile/v1/ecard",
            json={"public_key": phone.public_b64, "app_id": app_id, "device_label": "x"},
            headers=holder.headers,
        )

    for app_id in ("gd-hrss", "yueshengshi", "bank-app"):
        assert sign(app_id).status_code == 201
    assert sign("gd-hrss").status_code == 201  # replaces, does not add
    fourth = sign("another-app")
    assert fourth.status_code == 409
    assert fourth.get_json()["code"] == "ecard.too_many_channels"
    channels = client.get("/mobile/v1/ecard/channels", headers=holder.headers).get_json()["items"]
    assert sorted(c["status"] for c in channels) == ["active", "active", "active", "revoked"]


def test_an_invalid_public_key_is_422(client, holder):
    response = client.post(
        "/mobile/v1/ecard",
        json={"public_key": base64.b64encode(b"short").decode() + "A" * 40, "app_id": "gd-hrss",
              "device_label": "x"},
        headers=holder.headers,
    )  # fmt: skip
    assert response.status_code == 422


def test_revoking_a_channel_kills_its_codes(app, client, holder, signed, phone):
    response = client.post(
        f"/mobile/v1/ecard/channels/{signed['channel']['id']}/revoke", headers=holder.headers
    )
    assert response.get_json()["status"] == "revoked"
    assert refusal(app, presentation(signed, phone)) == "credential.revoked"


def test_staff_revoke_a_channel_in_their_scope(client, holder, signed, branch, make_staff):
    zhuhai = make_staff("branch_staff", "440400")
    url = f"/staff/v1/cards/{holder.card_id}/ecard-channels/{signed['channel']['id']}/revoke"
    assert client.post(url, json={"reason": "手机丢失"}, headers=zhuhai.headers).status_code == 403
    ok = client.post(url, json={"reason": "手机丢失"}, headers=branch.headers)
    assert ok.get_json()["revoke_reason"] == "手机丢失"


def test_a_server_code_verifies_once(app, client, holder):
    body = client.post("/mobile/v1/codes/server", json={"scene": "venue"}, headers=holder.headers)
    assert body.status_code == 200
    code = body.get_json()
    assert code["code"].startswith("SS1:")
    assert code["refresh_after"] > 0
    accepted = verify(app, code["code"], Scene.VENUE)
    assert accepted["kind"] == "server"
    assert refusal(app, code["code"], Scene.VENUE) == "credential.replayed"


def test_the_server_code_image_scans_back_to_a_valid_code(app, client, holder):
    import io

    import zxingcpp
    from PIL import Image

    with client.get("/mobile/v1/codes/server.png?scene=library", headers=holder.headers) as png:
        assert png.mimetype == "image/png"
        assert int(png.headers["Refresh-After"]) > 0
        image = Image.open(io.BytesIO(png.get_data()))
    [barcode] = zxingcpp.read_barcodes(image)
    assert isinstance(decode(barcode.text), object)
    assert verify(app, barcode.text, Scene.LIBRARY)["accepted"] is True
    with client.get("/mobile/v1/codes/server.svg?scene=library", headers=holder.headers) as svg:
        assert svg.mimetype == "image/svg+xml"
        assert b"<svg" in svg.get_data()


def test_the_fallback_code_is_typed_in_once(client, holder, signed, branch):
    code = service.fallback_code_now(signed["fallback_secret"], utcnow())
    body = {"card_serial": holder.serial, "code": code, "scene": "library"}
    first = client.post("/staff/v1/credentials/verify-fallback", json=body, headers=branch.headers)
    assert first.status_code == 200
    assert first.get_json()["kind"] == "fallback"
    again = client.post("/staff/v1/credentials/verify-fallback", json=body, headers=branch.headers)
    assert again.get_json()["code"] == "credential.replayed"
    wrong = {**body, "code": f"{(int(code) + 1) % 10**8:08d}"}
    refused = client.post(
        "/staff/v1/credentials/verify-fallback", json=wrong, headers=branch.headers
    )
    assert refused.get_json()["code"] == "credential.fallback_incorrect"


def test_old_key_codes_verify_after_rotation_but_not_after_revocation(app, runner, signed, phone):
    kid = signed["certificate"]["kid"]
    rotated = runner.invoke(args=["keys", "rotate"])
    assert rotated.exit_code == 0, rotated.output
    assert verify(app, presentation(signed, phone, counter=1))["accepted"] is True
    revoked = runner.invoke(args=["keys", "revoke", str(kid)])
    assert revoked.exit_code == 0, revoked.output
    assert refusal(app, presentation(signed, phone, counter=2)) == "credential.unknown_issuer"


def test_the_trust_list_names_active_and_retired_keys(app, runner, signed):
    runner.invoke(args=["keys", "rotate"])
    with app.app_context():
        doc = service.trust_list_document(db.session, utcnow())
    assert len(doc["keys"]) == 2
    assert signed["certificate"]["kid"] in {k["kid"] for k in doc["keys"]}


def test_a_disabled_holder_and_a_young_holder_get_their_categories(client, make_holder, phone):
    disabled = make_holder(birth="19790101", disability=2)
    minor = make_holder(birth="20100101")
    for who, expected in ((disabled, ["disabled"]), (minor, ["minor"])):
        body = client.post(
            "/mobile/v1/ecard",
            json={"public_key": phone.public_b64, "app_id": "gd-hrss", "device_label": "x"},
            headers=who.headers,
        ).get_json()
        assert body["certificate"]["categories"] == expected


def test_my_account_shows_balance_and_my_card_is_masked(client, holder):
    card = client.get("/mobile/v1/card", headers=holder.headers).get_json()
    assert card["serial"] == holder.serial
    assert "*" in card["bank_account_masked"]
    account = client.get("/mobile/v1/account", headers=holder.headers).get_json()
    assert account == {"balance_fen": 0, "currency": "CNY", "movements": [], "next_before_id": None}


@pytest.mark.postgres_only
def test_one_presentation_at_two_gates_at_once_is_accepted_once(app, signed, phone):
    text = presentation(signed, phone)
    gates = 6
    barrier = threading.Barrier(gates)
    results: list[str] = []
    lock = threading.Lock()

    def gate():
        barrier.wait()
        try:
            verify(app, text)
            outcome = "accepted"
        except DomainError as exc:
            outcome = exc.code
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=gate) for _ in range(gates)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(results) == ["accepted"] + ["credential.replayed"] * (gates - 1)
    assert uses(app) == 1


def test_a_new_issuer_key_never_reuses_the_id_of_a_key_file_on_disk(app, monkeypatch, now):
    """The database may be emptied or restored while the key files stay: ids must not clash."""
    from server.credentials import service as credentials

    with app.app_context():
        store = credentials.key_store()
        for kid in (4242, 777):  # the keys directory is shared by the whole test session
            store.destroy(kid)
        taken = iter([4242, 4242, 777])
        store.create(4242)
        monkeypatch.setattr(credentials.secrets, "randbelow", lambda _n: next(taken) - 1)
        key = credentials.rotate_issuer_key(db.session, None, now)
        assert key.kid == 777
        store.destroy(4242)
        store.destroy(777)
        db.session.remove()


def test_the_first_server_code_keeps_the_pseudonym_it_carries(app, client, holder):
    """A server code names the card by its pseudonym: the pseudonym must be stored, so that a
    later loss report lists it and refuses the code."""
    code = client.post("/mobile/v1/codes/server", json={"scene": "venue"}, headers=holder.headers)
    client.post("/mobile/v1/card/report-loss", json={}, headers=holder.headers)
    assert refusal(app, code.get_json()["code"], Scene.VENUE) == "credential.revoked"
