"""Door-to-door issuance requests and the visits made for them."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Index, LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column

from server.db_types import BigId, IdPk, UTCDateTime
from server.doorstep.rules import OPEN_STATUSES
from server.extensions import db

_open = ", ".join(f"'{s}'" for s in sorted(OPEN_STATUSES))
OPEN_REQUEST_PREDICATE = text(f"status IN ({_open})")


class DoorstepRequest(db.Model):
    """A request to issue a card at someone's home (上门办卡). The subject is named by ID number
    and name and may not be registered yet; ID number, phones, address and disability
    certificate number are stored only encrypted. ``subject_id_number_bidx`` is the registry's
    blind index of the ID number, so it equals ``person.id_number_bidx`` once the person is
    registered."""

    __tablename__ = "doorstep_request"

    id: Mapped[IdPk]
    city_code: Mapped[str] = mapped_column(ForeignKey("city.code"))
    status: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(16))  # mobile | staff
    requested_by_kind: Mapped[str] = mapped_column(String(24))  # self | family | community_worker
    requester_name: Mapped[str | None] = mapped_column(String(64))
    requester_phone_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    requester_person_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("person.id"), index=True
    )
    created_by_staff_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("staff_user.id"))

    subject_person_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("person.id"))
    subject_id_number_enc: Mapped[bytes] = mapped_column(LargeBinary)
    subject_id_number_bidx: Mapped[bytes] = mapped_column(LargeBinary(32), index=True)
    subject_name: Mapped[str] = mapped_column(String(64))
    subject_birth_date: Mapped[date] = mapped_column(Date)
    contact_phone_enc: Mapped[bytes] = mapped_column(LargeBinary)
    district: Mapped[str] = mapped_column(String(32))  # 区/县, shown unmasked
    address_enc: Mapped[bytes] = mapped_column(LargeBinary)  # street, building, flat

    reasons: Mapped[str] = mapped_column(String(64))  # eligibility reasons, comma-separated
    disability_certificate_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    illness_declared: Mapped[bool] = mapped_column(Boolean, default=False)
    illness_confirmed_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("staff_user.id"))
    illness_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    assigned_to_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("staff_user.id"), index=True
    )
    assigned_by_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("staff_user.id"))
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    planned_from: Mapped[datetime | None] = mapped_column(UTCDateTime)
    planned_to: Mapped[datetime | None] = mapped_column(UTCDateTime)

    card_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("card.id"))
    completed_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("staff_user.id"))
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_by_kind: Mapped[str | None] = mapped_column(String(16))  # staff | cardholder
    cancelled_by_id: Mapped[int | None] = mapped_column(BigId)
    cancel_reason: Mapped[str | None] = mapped_column(String(100))

    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        # One open request per person.
        Index(
            "uq_doorstep_request_one_open_per_person",
            "subject_id_number_bidx",
            unique=True,
            sqlite_where=OPEN_REQUEST_PREDICATE,
            postgresql_where=OPEN_REQUEST_PREDICATE,
        ),
        # The staff work list: a city's requests by status, in planned-visit order.
        Index("ix_doorstep_request_city_status_planned", "city_code", "status", "planned_from"),
    )


class DoorstepVisit(db.Model):
    """One visit to the door: when, by whom, how it went. The note holds no personal data."""

    __tablename__ = "doorstep_visit"

    id: Mapped[IdPk]
    request_id: Mapped[int] = mapped_column(BigId, ForeignKey("doorstep_request.id"), index=True)
    staff_id: Mapped[int] = mapped_column(BigId, ForeignKey("staff_user.id"))
    visited_at: Mapped[datetime] = mapped_column(UTCDateTime)
    outcome: Mapped[str] = mapped_column(String(24))
    note: Mapped[str | None] = mapped_column(String(100))
