"""The SMS sign-in leaves no plain phone number in the database or the log."""

from __future__ import annotations

import logging

from tests.conftest import plaintext_hits
from tests.mobile.conftest import PHONE, latest_code, request_code, sign_in, wrong


def test_the_log_and_the_database_hold_no_plain_phone_number(app, client, holder, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    request_code(client, "+86 " + PHONE)
    code = latest_code(app, PHONE)
    sign_in(client, PHONE, wrong(code), **holder.real_name)
    sign_in(client, PHONE, code, id_number=holder.id_number, name="错名")
    assert sign_in(client, PHONE, code, **holder.real_name).status_code == 200
    request_code(client, "13700000000")  # an unknown phone too

    captured = capfd.readouterr()
    text = caplog.text + captured.err + captured.out
    assert "sms written to outbox" in text  # the sender's log line was captured at all
    for needle in (PHONE, "13700000000", holder.id_number, code):
        assert needle not in text

    needles = [PHONE, "13700000000", holder.id_number]
    hits, scanned = plaintext_hits(app, needles)
    assert scanned > 50
    assert hits == []
