"""Personal data: AES-GCM with key versions, blind indexes, masks, key rotation."""

from __future__ import annotations

import json

import pytest
from cryptography.exceptions import InvalidTag
from sqlalchemy import select

from server.extensions import db
from server.registry import service
from server.registry.models import Person
from server.security.keys import load_keyring
from server.security.pii import PiiCipher, mask_bank_account, mask_id_number, mask_name, mask_phone


@pytest.fixture
def cipher(tmp_path):
    return PiiCipher(load_keyring(tmp_path / "keys"))


def test_round_trip_and_fresh_nonce_each_time(cipher):
    a = cipher.encrypt("person.id_number", "11010519491231002X")
    b = cipher.encrypt("person.id_number", "11010519491231002X")
    assert a != b
    assert cipher.decrypt("person.id_number", a) == "11010519491231002X"


def test_a_ciphertext_cannot_be_moved_to_another_field(cipher):
    blob = cipher.encrypt("person.phone", "13812345678")
    with pytest.raises(InvalidTag):
        cipher.decrypt("person.id_number", blob)


def test_blind_index_is_keyed_and_per_field(cipher, tmp_path):
    other = PiiCipher(load_keyring(tmp_path / "other-keys"))
    value = "11010519491231002X"
    assert cipher.blind_index("f", value) == cipher.blind_index("f", value)
    assert cipher.blind_index("f", value) != cipher.blind_index("g", value)
    assert cipher.blind_index("f", value) != other.blind_index("f", value)


def test_keys_are_private_files(tmp_path):
    load_keyring(tmp_path / "keys")
    for path in (tmp_path / "keys").iterdir():
        assert path.stat().st_mode & 0o077 == 0


def test_masks():
    assert mask_id_number("44010619900101123X") == "4401**********123X"
    assert mask_phone("13812345678") == "138****5678"
    assert mask_bank_account("6222021234567890123") == "6222***********0123"
    assert mask_name("张三") == "张*"
    assert mask_name("欧阳娜娜") == "欧**娜"
    assert mask_name("John Smith") == "J*** S****"


def test_rotating_the_key_reencrypts_and_old_data_still_reads(
    app, runner, branch, person_payload, now
):
    with app.app_context():
        service.register_person(db.session, branch.actor, now=now, **person_payload)
        db.session.remove()
    result = runner.invoke(args=["keys", "rotate-pii"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["reencrypted"] == 2  # ID number and phone
    with app.app_context():
        from server.security.pii import cipher as active

        person = db.session.execute(select(Person)).scalar_one()
        assert active().key_version(person.id_number_enc) == out["active_key"]
        assert service.decrypt_id_number(person) == person_payload["id_number"]
        assert (
            service.find_person_by_id_number(db.session, person_payload["id_number"]).id
            == person.id
        )


def test_every_encrypted_column_is_rotated(app):
    """A new ``*_enc`` column must be listed in server.security.rotation."""
    from server.extensions import db
    from server.security.rotation import encrypted_columns

    with app.app_context():
        listed = {(model.__table__.name, column) for model, column, _ in encrypted_columns()}
        present = {
            (table.name, column.name)
            for table in db.metadata.sorted_tables
            for column in table.columns
            if column.name.endswith("_enc")
        }
    assert present == listed
