"""Trust and revocation list downloads: content, strong ETags, 304 without a body."""

from __future__ import annotations

import pytest

from tests.terminals.conftest import signed

TRUST = "/terminal/v1/trust-list"
REVOCATIONS = "/terminal/v1/revocation-list"


@pytest.fixture(autouse=True)
def _stand_ins(fake_credentials):
    return fake_credentials


def test_trust_list_with_a_strong_etag(client, gate, fake_credentials):
    response = signed(client, gate, "GET", TRUST)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["version"] == 3
    assert body["keys"] == fake_credentials.trust["keys"]
    etag = response.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"')  # strong: no W/
    assert response.headers["Cache-Control"] == "no-cache"

    # generated_at differs on every call; the content, and so the ETag, does not
    again = signed(client, gate, "GET", TRUST)
    assert again.headers["ETag"] == etag
    assert again.get_json()["generated_at"] != body["generated_at"]

    unchanged = signed(client, gate, "GET", TRUST, headers={"If-None-Match": etag})
    assert unchanged.status_code == 304
    assert unchanged.data == b""
    assert unchanged.headers["ETag"] == etag

    for header in ("W/" + etag, f'"other", {etag}', "*"):
        assert (
            signed(client, gate, "GET", TRUST, headers={"If-None-Match": header}).status_code == 304
        )


def test_a_changed_list_gets_a_new_etag(client, gate, fake_credentials):
    etag = signed(client, gate, "GET", TRUST).headers["ETag"]
    fake_credentials.trust = {**fake_credentials.trust, "version": 4}
    response = signed(client, gate, "GET", TRUST, headers={"If-None-Match": etag})
    assert response.status_code == 200
    assert response.headers["ETag"] != etag
    assert response.get_json()["version"] == 4


def test_revocation_list_full_and_delta(client, gate, fake_credentials):
    full = signed(client, gate, "GET", REVOCATIONS)
    assert full.status_code == 200
    assert full.get_json()["full"] is True
    assert full.get_json()["add"]["serials"] == [{"serial": "123456789", "reason": "lost"}]

    delta = signed(client, gate, "GET", REVOCATIONS + "?since=11")
    assert delta.status_code == 200
    assert delta.get_json()["full"] is False
    assert delta.get_json()["since"] == 11
    assert delta.headers["ETag"] != full.headers["ETag"]

    cached = signed(
        client,
        gate,
        "GET",
        REVOCATIONS + "?since=11",
        headers={"If-None-Match": delta.headers["ETag"]},
    )
    assert cached.status_code == 304 and cached.data == b""
    # The full list's ETag does not answer the delta question.
    mismatch = signed(
        client,
        gate,
        "GET",
        REVOCATIONS + "?since=11",
        headers={"If-None-Match": full.headers["ETag"]},
    )
    assert mismatch.status_code == 200


@pytest.mark.parametrize("since", ["-1", "abc", "1.5"])
def test_bad_since(client, gate, since):
    response = signed(client, gate, "GET", f"{REVOCATIONS}?since={since}")
    assert response.status_code == 422
    assert response.get_json()["code"] == "request.validation_failed"


def test_every_terminal_kind_may_download(client, make_terminal):
    for kind in ("bus_validator", "library_selfcheck", "venue_gate", "pos", "kiosk"):
        terminal = make_terminal(kind)
        assert signed(client, terminal, "GET", TRUST).status_code == 200
        assert signed(client, terminal, "GET", REVOCATIONS).status_code == 200
