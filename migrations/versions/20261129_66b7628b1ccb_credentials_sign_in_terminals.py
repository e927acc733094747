"""e-card credentials, cardholder sign-in, terminals

Issuer keys, card pseudonyms, e-card channels and certificates, the revocation event log and the
credential use record (the online replay guard); SMS codes, the development SMS outbox and phone
bindings for cardholder sign-in; terminals and their request nonces.

Revision ID: 66b7628b1ccb
Revises: 1ad065ec5d13
Create Date: 2026-11-29 00:37:35.257912

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "66b7628b1ccb"
down_revision = "1ad065ec5d13"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "credential_use",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("serial", sa.BigInteger(), nullable=False),
        sa.Column("counter", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("card_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "terminal_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("actor_label", sa.String(length=64), nullable=False),
        sa.Column("scene", sa.String(length=16), nullable=False),
        sa.Column("generated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credential_use")),
        sa.UniqueConstraint("serial", "counter", name="uq_credential_use_serial"),
    )
    with op.batch_alter_table("credential_use", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_credential_use_card_id"), ["card_id"], unique=False)

    op.create_table(
        "issuer_key",
        sa.Column("kid", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("public_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("trusted_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_issuer_key")),
    )
    op.create_table(
        "revocation_event",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("op", sa.String(length=8), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_revocation_event")),
    )
    with op.batch_alter_table("revocation_event", schema=None) as batch_op:
        batch_op.create_index(
            "ix_revocation_event_kind_value", ["kind", "value", "id"], unique=False
        )

    op.create_table(
        "sms_code",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("phone_bidx", sa.LargeBinary(length=32), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("code_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed_tries", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sms_code")),
        sa.UniqueConstraint("phone_bidx", "purpose", name=op.f("uq_sms_code_phone_bidx")),
    )
    op.create_table(
        "sms_outbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("phone_enc", sa.LargeBinary(), nullable=False),
        sa.Column("phone_bidx", sa.LargeBinary(length=32), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sms_outbox")),
    )
    with op.batch_alter_table("sms_outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sms_outbox_phone_bidx"), ["phone_bidx"], unique=False)

    op.create_table(
        "terminal",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("city_code", sa.String(length=6), nullable=False),
        sa.Column("location", sa.String(length=128), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("secret_enc", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "created_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("secret_rotated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["city_code"], ["city.code"], name=op.f("fk_terminal_city_code_city")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_terminal")),
        sa.UniqueConstraint("code", name=op.f("uq_terminal_code")),
    )
    with op.batch_alter_table("terminal", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_terminal_city_code"), ["city_code"], unique=False)

    op.create_table(
        "phone_binding",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("phone_bidx", sa.LargeBinary(length=32), nullable=False),
        sa.Column("phone_enc", sa.LargeBinary(), nullable=False),
        sa.Column(
            "person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("bound_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_phone_binding_person_id_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_phone_binding")),
    )
    with op.batch_alter_table("phone_binding", schema=None) as batch_op:
        batch_op.create_index("ix_phone_binding_person_id", ["person_id"], unique=False)
        batch_op.create_index(
            "uq_phone_binding_active_person",
            ["person_id"],
            unique=True,
            sqlite_where=sa.text("revoked_at IS NULL"),
            postgresql_where=sa.text("revoked_at IS NULL"),
        )
        batch_op.create_index(
            "uq_phone_binding_active_phone",
            ["phone_bidx"],
            unique=True,
            sqlite_where=sa.text("revoked_at IS NULL"),
            postgresql_where=sa.text("revoked_at IS NULL"),
        )

    op.create_table(
        "terminal_nonce",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "terminal_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["terminal_id"], ["terminal.id"], name=op.f("fk_terminal_nonce_terminal_id_terminal")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_terminal_nonce")),
        sa.UniqueConstraint("terminal_id", "nonce", name=op.f("uq_terminal_nonce_terminal_id")),
    )
    with op.batch_alter_table("terminal_nonce", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_terminal_nonce_created_at"), ["created_at"], unique=False
        )

    op.create_table(
        "card_pseudonym",
        sa.Column("card_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("pseudonym", sa.LargeBinary(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["card_id"], ["card.id"], name=op.f("fk_card_pseudonym_card_id_card")
        ),
        sa.PrimaryKeyConstraint("card_id", name=op.f("pk_card_pseudonym")),
        sa.UniqueConstraint("pseudonym", name=op.f("uq_card_pseudonym_pseudonym")),
    )
    op.create_table(
        "ecard_channel",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("card_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("app_id", sa.String(length=32), nullable=False),
        sa.Column("device_label", sa.String(length=64), nullable=False),
        sa.Column("public_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("fallback_secret_enc", sa.LargeBinary(), nullable=False),
        sa.Column("fallback_serial", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoke_reason", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["card_id"], ["card.id"], name=op.f("fk_ecard_channel_card_id_card")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_ecard_channel_person_id_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ecard_channel")),
        sa.UniqueConstraint("fallback_serial", name=op.f("uq_ecard_channel_fallback_serial")),
    )
    with op.batch_alter_table("ecard_channel", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ecard_channel_card_id"), ["card_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ecard_channel_person_id"), ["person_id"], unique=False)
        batch_op.create_index(
            "uq_ecard_channel_active_app",
            ["card_id", "app_id"],
            unique=True,
            sqlite_where=sa.text("status = 'active'"),
            postgresql_where=sa.text("status = 'active'"),
        )

    op.create_table(
        "ecard_certificate",
        sa.Column("serial", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column(
            "channel_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("card_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kid", sa.Integer(), nullable=False),
        sa.Column("categories", sa.Integer(), nullable=False),
        sa.Column("home_city", sa.String(length=6), nullable=False),
        sa.Column("per_use_cap_fen", sa.Integer(), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoke_reason", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["card_id"], ["card.id"], name=op.f("fk_ecard_certificate_card_id_card")
        ),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["ecard_channel.id"],
            name=op.f("fk_ecard_certificate_channel_id_ecard_channel"),
        ),
        sa.PrimaryKeyConstraint("serial", name=op.f("pk_ecard_certificate")),
    )
    with op.batch_alter_table("ecard_certificate", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ecard_certificate_card_id"), ["card_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_ecard_certificate_channel_id"), ["channel_id"], unique=False
        )


def downgrade():
    with op.batch_alter_table("ecard_certificate", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ecard_certificate_channel_id"))
        batch_op.drop_index(batch_op.f("ix_ecard_certificate_card_id"))

    op.drop_table("ecard_certificate")
    with op.batch_alter_table("ecard_channel", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_ecard_channel_active_app",
            sqlite_where=sa.text("status = 'active'"),
            postgresql_where=sa.text("status = 'active'"),
        )
        batch_op.drop_index(batch_op.f("ix_ecard_channel_person_id"))
        batch_op.drop_index(batch_op.f("ix_ecard_channel_card_id"))

    op.drop_table("ecard_channel")
    op.drop_table("card_pseudonym")
    with op.batch_alter_table("terminal_nonce", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_terminal_nonce_created_at"))

    op.drop_table("terminal_nonce")
    with op.batch_alter_table("phone_binding", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_phone_binding_active_phone",
            sqlite_where=sa.text("revoked_at IS NULL"),
            postgresql_where=sa.text("revoked_at IS NULL"),
        )
        batch_op.drop_index(
            "uq_phone_binding_active_person",
            sqlite_where=sa.text("revoked_at IS NULL"),
            postgresql_where=sa.text("revoked_at IS NULL"),
        )
        batch_op.drop_index("ix_phone_binding_person_id")

    op.drop_table("phone_binding")
    with op.batch_alter_table("terminal", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_terminal_city_code"))

    op.drop_table("terminal")
    with op.batch_alter_table("sms_outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sms_outbox_phone_bidx"))

    op.drop_table("sms_outbox")
    op.drop_table("sms_code")
    with op.batch_alter_table("revocation_event", schema=None) as batch_op:
        batch_op.drop_index("ix_revocation_event_kind_value")

    op.drop_table("revocation_event")
    op.drop_table("issuer_key")
    with op.batch_alter_table("credential_use", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_credential_use_card_id"))

    op.drop_table("credential_use")
