"""Re-encrypting every encrypted column after a new personal-data key version is made active.

One list names each encrypted column with the field name bound into its ciphertext; a new
encrypted column must be added here, and ``tests/security/test_pii.py`` checks none is missed.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.security import audit
from server.security.pii import cipher


def encrypted_columns() -> list[tuple[type, str, str]]:
    """(model, column, field bound as associated data) for every encrypted column."""
    from server.credentials.models import EcardChannel
    from server.credentials.service import F_FALLBACK
    from server.doorstep import service as doorstep
    from server.doorstep.models import DoorstepRequest
    from server.registry.models import Card, Person
    from server.registry.service import F_BANK, F_ID, F_PHONE
    from server.security.cardholder import F_BINDING_PHONE
    from server.security.models import PhoneBinding, SmsOutbox, StaffUser
    from server.security.sms import F_OUTBOX_PHONE
    from server.terminals.models import Terminal
    from server.terminals.service import SECRET_FIELD

    return [
        (Person, "id_number_enc", F_ID),
        (Person, "phone_enc", F_PHONE),
        (Card, "bank_account_enc", F_BANK),
        (StaffUser, "totp_secret_enc", "staff.totp_secret"),
        (SmsOutbox, "phone_enc", F_OUTBOX_PHONE),
        (PhoneBinding, "phone_enc", F_BINDING_PHONE),
        (EcardChannel, "fallback_secret_enc", F_FALLBACK),
        (Terminal, "secret_enc", SECRET_FIELD),
        (DoorstepRequest, "subject_id_number_enc", doorstep.F_SUBJECT_ID),
        (DoorstepRequest, "contact_phone_enc", doorstep.F_CONTACT_PHONE),
        (DoorstepRequest, "requester_phone_enc", doorstep.F_REQUESTER_PHONE),
        (DoorstepRequest, "address_enc", doorstep.F_ADDRESS),
        (DoorstepRequest, "disability_certificate_enc", doorstep.F_DISABILITY_CERT),
    ]


def reencrypt_all(session: Session, now: datetime, batch: int = 1000) -> int:
    """Re-encrypt every value not under the active key version; returns how many changed."""
    c = cipher()
    count = 0
    for model, column, field in encrypted_columns():
        rows = session.execute(select(model).execution_options(yield_per=batch)).scalars()
        for row in rows:
            blob = getattr(row, column)
            if blob is not None and c.key_version(blob) != c.active_kid:
                setattr(row, column, c.encrypt(field, c.decrypt(field, blob)))
                count += 1
    audit.record(
        session,
        None,
        "keys.pii_rotated",
        object_type="keyring",
        object_id=c.active_kid,
        now=now,
        reencrypted=count,
    )
    session.commit()
    return count
