"""kiosk, entrances, door-to-door issuance

Kiosk: server-issued card challenges (single use, terminal-bound), self-service activation
sessions, help requests (call staff). Entrances (museum, library, scenic spot) with the terminals
standing at them and a record of every entry decision. Door-to-door issuance requests (上门办卡)
with their visits; at most one open request per person (partial unique index).

Revision ID: c3079ca08d0b
Revises: 18a991d35a02
Create Date: 2026-11-29 02:46:20.724346

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "c3079ca08d0b"
down_revision = "18a991d35a02"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "entrance",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name_zh", sa.String(length=64), nullable=False),
        sa.Column("name_en", sa.String(length=128), nullable=False),
        sa.Column("city_code", sa.String(length=6), nullable=False),
        sa.Column("opening_hours", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "created_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.ForeignKeyConstraint(
            ["city_code"], ["city.code"], name=op.f("fk_entrance_city_code_city")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entrance")),
        sa.UniqueConstraint("code", name=op.f("uq_entrance_code")),
    )
    with op.batch_alter_table("entrance", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_entrance_city_code"), ["city_code"], unique=False)

    op.create_table(
        "card_challenge",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("handle_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column(
            "terminal_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("challenge", sa.LargeBinary(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["terminal_id"], ["terminal.id"], name=op.f("fk_card_challenge_terminal_id_terminal")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_card_challenge")),
        sa.UniqueConstraint("handle_hash", name=op.f("uq_card_challenge_handle_hash")),
    )
    with op.batch_alter_table("card_challenge", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_card_challenge_expires_at"), ["expires_at"], unique=False
        )

    op.create_table(
        "entrance_terminal",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "entrance_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "terminal_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("attached_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "attached_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.ForeignKeyConstraint(
            ["entrance_id"], ["entrance.id"], name=op.f("fk_entrance_terminal_entrance_id_entrance")
        ),
        sa.ForeignKeyConstraint(
            ["terminal_id"], ["terminal.id"], name=op.f("fk_entrance_terminal_terminal_id_terminal")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entrance_terminal")),
        sa.UniqueConstraint(
            "entrance_id", "terminal_id", name=op.f("uq_entrance_terminal_entrance_id")
        ),
    )
    with op.batch_alter_table("entrance_terminal", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_entrance_terminal_terminal_id"), ["terminal_id"], unique=False
        )

    op.create_table(
        "help_request",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "terminal_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("city_code", sa.String(length=6), nullable=False),
        sa.Column("ticket_day", sa.Date(), nullable=False),
        sa.Column("ticket_seq", sa.Integer(), nullable=False),
        sa.Column("ticket", sa.String(length=8), nullable=False),
        sa.Column("topic", sa.String(length=32), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "claimed_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "resolved_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["city_code"], ["city.code"], name=op.f("fk_help_request_city_code_city")
        ),
        sa.ForeignKeyConstraint(
            ["claimed_by"], ["staff_user.id"], name=op.f("fk_help_request_claimed_by_staff_user")
        ),
        sa.ForeignKeyConstraint(
            ["resolved_by"], ["staff_user.id"], name=op.f("fk_help_request_resolved_by_staff_user")
        ),
        sa.ForeignKeyConstraint(
            ["terminal_id"], ["terminal.id"], name=op.f("fk_help_request_terminal_id_terminal")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_help_request")),
        sa.UniqueConstraint(
            "terminal_id", "ticket_day", "ticket_seq", name=op.f("uq_help_request_terminal_id")
        ),
    )
    with op.batch_alter_table("help_request", schema=None) as batch_op:
        batch_op.create_index("ix_help_request_city_status", ["city_code", "status"], unique=False)

    op.create_table(
        "activation_session",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("handle_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column(
            "terminal_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("card_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("identity_ok_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(
            ["card_id"], ["card.id"], name=op.f("fk_activation_session_card_id_card")
        ),
        sa.ForeignKeyConstraint(
            ["terminal_id"],
            ["terminal.id"],
            name=op.f("fk_activation_session_terminal_id_terminal"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activation_session")),
        sa.UniqueConstraint("handle_hash", name=op.f("uq_activation_session_handle_hash")),
    )
    with op.batch_alter_table("activation_session", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_activation_session_card_id"), ["card_id"], unique=False
        )

    op.create_table(
        "doorstep_request",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("city_code", sa.String(length=6), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("requested_by_kind", sa.String(length=24), nullable=False),
        sa.Column("requester_name", sa.String(length=64), nullable=True),
        sa.Column("requester_phone_enc", sa.LargeBinary(), nullable=True),
        sa.Column(
            "requester_person_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column(
            "created_by_staff_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column(
            "subject_person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("subject_id_number_enc", sa.LargeBinary(), nullable=False),
        sa.Column("subject_id_number_bidx", sa.LargeBinary(length=32), nullable=False),
        sa.Column("subject_name", sa.String(length=64), nullable=False),
        sa.Column("subject_birth_date", sa.Date(), nullable=False),
        sa.Column("contact_phone_enc", sa.LargeBinary(), nullable=False),
        sa.Column("district", sa.String(length=32), nullable=False),
        sa.Column("address_enc", sa.LargeBinary(), nullable=False),
        sa.Column("reasons", sa.String(length=64), nullable=False),
        sa.Column("disability_certificate_enc", sa.LargeBinary(), nullable=True),
        sa.Column("illness_declared", sa.Boolean(), nullable=False),
        sa.Column(
            "illness_confirmed_by",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column("illness_confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "assigned_to_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "assigned_by_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("planned_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("planned_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("card_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "completed_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_by_kind", sa.String(length=16), nullable=True),
        sa.Column(
            "cancelled_by_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("cancel_reason", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["assigned_by_id"],
            ["staff_user.id"],
            name=op.f("fk_doorstep_request_assigned_by_id_staff_user"),
        ),
        sa.ForeignKeyConstraint(
            ["assigned_to_id"],
            ["staff_user.id"],
            name=op.f("fk_doorstep_request_assigned_to_id_staff_user"),
        ),
        sa.ForeignKeyConstraint(
            ["card_id"], ["card.id"], name=op.f("fk_doorstep_request_card_id_card")
        ),
        sa.ForeignKeyConstraint(
            ["city_code"], ["city.code"], name=op.f("fk_doorstep_request_city_code_city")
        ),
        sa.ForeignKeyConstraint(
            ["completed_by"],
            ["staff_user.id"],
            name=op.f("fk_doorstep_request_completed_by_staff_user"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by_staff_id"],
            ["staff_user.id"],
            name=op.f("fk_doorstep_request_created_by_staff_id_staff_user"),
        ),
        sa.ForeignKeyConstraint(
            ["illness_confirmed_by"],
            ["staff_user.id"],
            name=op.f("fk_doorstep_request_illness_confirmed_by_staff_user"),
        ),
        sa.ForeignKeyConstraint(
            ["requester_person_id"],
            ["person.id"],
            name=op.f("fk_doorstep_request_requester_person_id_person"),
        ),
        sa.ForeignKeyConstraint(
            ["subject_person_id"],
            ["person.id"],
            name=op.f("fk_doorstep_request_subject_person_id_person"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_doorstep_request")),
    )
    with op.batch_alter_table("doorstep_request", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_doorstep_request_assigned_to_id"), ["assigned_to_id"], unique=False
        )
        batch_op.create_index(
            "ix_doorstep_request_city_status_planned",
            ["city_code", "status", "planned_from"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_doorstep_request_requester_person_id"),
            ["requester_person_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_doorstep_request_subject_id_number_bidx"),
            ["subject_id_number_bidx"],
            unique=False,
        )
        batch_op.create_index(
            "uq_doorstep_request_one_open_per_person",
            ["subject_id_number_bidx"],
            unique=True,
            sqlite_where=sa.text("status IN ('assigned', 'requested', 'visited')"),
            postgresql_where=sa.text("status IN ('assigned', 'requested', 'visited')"),
        )

    op.create_table(
        "entry_record",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "entrance_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "terminal_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("card_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("medium", sa.String(length=8), nullable=False),
        sa.Column("decision", sa.String(length=8), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["card_id"], ["card.id"], name=op.f("fk_entry_record_card_id_card")
        ),
        sa.ForeignKeyConstraint(
            ["entrance_id"], ["entrance.id"], name=op.f("fk_entry_record_entrance_id_entrance")
        ),
        sa.ForeignKeyConstraint(
            ["terminal_id"], ["terminal.id"], name=op.f("fk_entry_record_terminal_id_terminal")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entry_record")),
    )
    with op.batch_alter_table("entry_record", schema=None) as batch_op:
        batch_op.create_index("ix_entry_record_entrance_at", ["entrance_id", "at"], unique=False)

    op.create_table(
        "doorstep_visit",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "request_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("staff_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("visited_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=24), nullable=False),
        sa.Column("note", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["doorstep_request.id"],
            name=op.f("fk_doorstep_visit_request_id_doorstep_request"),
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff_user.id"], name=op.f("fk_doorstep_visit_staff_id_staff_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_doorstep_visit")),
    )
    with op.batch_alter_table("doorstep_visit", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_doorstep_visit_request_id"), ["request_id"], unique=False
        )


def downgrade():
    with op.batch_alter_table("doorstep_visit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_doorstep_visit_request_id"))

    op.drop_table("doorstep_visit")
    with op.batch_alter_table("entry_record", schema=None) as batch_op:
        batch_op.drop_index("ix_entry_record_entrance_at")

    op.drop_table("entry_record")
    with op.batch_alter_table("doorstep_request", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_doorstep_request_one_open_per_person",
            sqlite_where=sa.text("status IN ('assigned', 'requested', 'visited')"),
            postgresql_where=sa.text("status IN ('assigned', 'requested', 'visited')"),
        )
        batch_op.drop_index(batch_op.f("ix_doorstep_request_subject_id_number_bidx"))
        batch_op.drop_index(batch_op.f("ix_doorstep_request_requester_person_id"))
        batch_op.drop_index("ix_doorstep_request_city_status_planned")
        batch_op.drop_index(batch_op.f("ix_doorstep_request_assigned_to_id"))

    op.drop_table("doorstep_request")
    with op.batch_alter_table("activation_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_activation_session_card_id"))

    op.drop_table("activation_session")
    with op.batch_alter_table("help_request", schema=None) as batch_op:
        batch_op.drop_index("ix_help_request_city_status")

    op.drop_table("help_request")
    with op.batch_alter_table("entrance_terminal", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_entrance_terminal_terminal_id"))

    op.drop_table("entrance_terminal")
    with op.batch_alter_table("card_challenge", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_card_challenge_expires_at"))

    op.drop_table("card_challenge")
    with op.batch_alter_table("entrance", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_entrance_city_code"))

    op.drop_table("entrance")
