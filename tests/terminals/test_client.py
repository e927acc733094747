"""The reference terminal (requests) against the app, through a transport adapter."""

from __future__ import annotations

import pytest
import requests
from requests.adapters import BaseAdapter

from server.terminals.client import TerminalAuth, TerminalClient, TerminalError
from server.terminals.offline import OfflineGate
from tests.terminals.conftest import nonce_count


class FlaskAdapter(BaseAdapter):
    """Sends a prepared request to the Flask test client, byte for byte."""

    def __init__(self, app) -> None:
        super().__init__()
        self.client = app.test_client()
        self.sent: list[requests.PreparedRequest] = []

    def send(self, request, **kwargs):
        self.sent.append(request)
        flask_response = self.client.open(
            request.path_url,
            method=request.method,
            headers=dict(request.headers),
            data=request.body,
        )
        response = requests.Response()
        response.status_code = flask_response.status_code
        response.headers.update(flask_response.headers)
        response._content = flask_response.data
        response.request = request
        response.url = request.url
        return response

    def close(self) -> None:
        pass


@pytest.fixture
def http(app):
    session = requests.Session()
    adapter = FlaskAdapter(app)
    session.mount("http://onecard.test", adapter)
    session.adapter = adapter  # type: ignore[attr-defined]
    return session


def test_terminal_auth_signs_what_requests_sends(app, http, gate, fake_credentials):
    auth = TerminalAuth(gate.code, gate.secret)
    listed = http.get(
        "http://onecard.test/terminal/v1/revocation-list", params={"since": 11}, auth=auth
    )
    assert listed.status_code == 200
    assert listed.json()["since"] == 11
    verified = http.post(
        "http://onecard.test/terminal/v1/verify",
        json={"code": "SC1:AAAA", "scene": "transit"},
        auth=auth,
    )
    assert verified.status_code == 200
    assert nonce_count(app) == 2


def test_client_downloads_syncs_and_verifies(app, http, gate, fake_credentials):
    client = TerminalClient("http://onecard.test", gate.code, gate.secret, session=http)
    trust = client.trust_list()
    assert trust["version"] == 3
    assert client.trust_list() is None  # 304: unchanged
    assert http.adapter.sent[-1].headers["If-None-Match"] == client.etags["/trust-list"]

    assert client.verify("SC1:AAAA", "transit")["accepted"] is True
    with pytest.raises(TerminalError) as refused:
        client.verify("SC1:AAAA", "library")
    assert (refused.value.status, refused.value.code) == (403, "terminal.scene_not_allowed")


def test_sync_applies_deltas_and_falls_back_to_the_full_list(
    http, gate, fake_credentials, monkeypatch
):
    client = TerminalClient("http://onecard.test", gate.code, gate.secret, session=http)
    fake_credentials.trust["keys"] = []  # the lists are what this test is about
    offline = client.offline_gate()
    assert isinstance(offline, OfflineGate)
    assert offline.revocation_version == 12

    fake_credentials.revocation_version = 13
    client.sync(offline)
    assert offline.revocation_version == 13
    assert http.adapter.sent[-1].path_url == "/terminal/v1/revocation-list?since=12"
    assert {"serial": "42", "reason": ""} not in offline.revocation_document["add"]["serials"]

    honest = fake_credentials.revocation_list_document

    def gap(session, since, now):
        document = honest(session, since, now)
        if not document["full"]:
            document["since"] = since - 1  # does not follow on from what the gate holds
        return document

    monkeypatch.setattr(fake_credentials, "revocation_list_document", gap)
    fake_credentials.revocation_version = 14
    client.sync(offline)
    assert offline.revocation_version == 14
    assert http.adapter.sent[-1].path_url == "/terminal/v1/revocation-list"
