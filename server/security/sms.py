"""Sending text messages: the :class:`SmsSender` interface and the development outbox.

There is no SMS gateway here. :class:`OutboxSmsSender` writes each message to the ``sms_outbox``
table inside the caller's transaction (so a message exists only if the code it carries was
committed); tests and a developer read the codes from there. The phone number is stored
encrypted with a blind index and never logged unmasked. A real gateway implements the same
``send`` and is chosen with ``SSC_SMS_SENDER``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from flask import current_app
from sqlalchemy.orm import Session

from server.security.models import SmsOutbox
from server.security.pii import cipher, mask_phone

log = logging.getLogger("server.sms")

F_PHONE_BIDX = "person.phone"  # same blind index as the registry: one phone, one digest
F_OUTBOX_PHONE = "sms_outbox.phone"


class SmsSender(Protocol):
    def send(
        self, session: Session, *, phone: str, message: str, purpose: str, now: datetime
    ) -> None:
        """Send ``message`` to the normalised mainland mobile number ``phone``."""
        ...


class OutboxSmsSender:
    """Development sender: one ``SmsOutbox`` row per message, in the caller's transaction."""

    def send(
        self, session: Session, *, phone: str, message: str, purpose: str, now: datetime
    ) -> None:
        c = cipher()
        row = SmsOutbox(
            phone_enc=c.encrypt(F_OUTBOX_PHONE, phone),
            phone_bidx=c.blind_index(F_PHONE_BIDX, phone),
            purpose=purpose,
            message=message,
            created_at=now,
        )
        session.add(row)
        session.flush()
        log.info(
            "sms written to outbox",
            extra={"sms_outbox_id": row.id, "purpose": purpose, "phone_masked": mask_phone(phone)},
        )


SENDERS: dict[str, Callable[[], SmsSender]] = {"outbox": OutboxSmsSender}


def sms_sender() -> SmsSender:
    """The sender named by ``SSC_SMS_SENDER`` (default ``outbox``)."""
    name = current_app.config.get("SSC_SMS_SENDER") or "outbox"
    try:
        factory = SENDERS[name]
    except KeyError:
        raise RuntimeError(f"SSC_SMS_SENDER={name!r} is not one of {sorted(SENDERS)}") from None
    return factory()


def outbox_messages(session: Session, phone: str, limit: int = 5) -> list[SmsOutbox]:
    """The newest development-outbox messages to ``phone`` (for developers and demos only)."""
    from sqlalchemy import select

    bidx = cipher().blind_index(F_PHONE_BIDX, phone)
    return list(
        session.execute(
            select(SmsOutbox)
            .where(SmsOutbox.phone_bidx == bidx)
            .order_by(SmsOutbox.id.desc())
            .limit(limit)
        ).scalars()
    )
