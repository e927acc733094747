"""initial schema

Persons, cards and their lifecycle (one person, one card by a partial unique index), staff users,
tokens, department clients, the hash-chained audit log, the ledger, and Guangdong's 21 cities as
reference data.

Revision ID: 1ad065ec5d13
Revises:
Create Date: 2026-11-29 00:23:21.218136

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "1ad065ec5d13"
down_revision = None
branch_labels = None
depends_on = None

# Guangdong's 21 prefecture-level cities; the five pilot cities of 粤人社函〔2021〕195号 flagged.
# A copy, not an import: a revision must not change when application code does.
CITY_COLUMNS = ("code", "name_zh", "name_en", "pilot")
CITIES = [
    ("440100", "广州市", "Guangzhou", True),
    ("440200", "韶关市", "Shaoguan", False),
    ("440300", "深圳市", "Shenzhen", False),
    ("440400", "珠海市", "Zhuhai", True),
    ("440500", "汕头市", "Shantou", False),
    ("440600", "佛山市", "Foshan", True),
    ("440700", "江门市", "Jiangmen", False),
    ("440800", "湛江市", "Zhanjiang", False),
    ("440900", "茂名市", "Maoming", False),
    ("441200", "肇庆市", "Zhaoqing", False),
    ("441300", "惠州市", "Huizhou", False),
    ("441400", "梅州市", "Meizhou", False),
    ("441500", "汕尾市", "Shanwei", True),
    ("441600", "河源市", "Heyuan", False),
    ("441700", "阳江市", "Yangjiang", False),
    ("441800", "清远市", "Qingyuan", False),
    ("441900", "东莞市", "Dongguan", True),
    ("442000", "中山市", "Zhongshan", False),
    ("445100", "潮州市", "Chaozhou", False),
    ("445200", "揭阳市", "Jieyang", False),
    ("445300", "云浮市", "Yunfu", False),
]


def upgrade():
    op.create_table(
        "audit_event",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_kind", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("actor_label", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("object_type", sa.String(length=32), nullable=False),
        sa.Column("object_id", sa.String(length=64), nullable=False),
        sa.Column("city_code", sa.String(length=6), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_event")),
        sa.UniqueConstraint("seq", name=op.f("uq_audit_event_seq")),
    )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_event_action"), ["action"], unique=False)
        batch_op.create_index("ix_audit_event_object", ["object_type", "object_id"], unique=False)

    op.create_table(
        "audit_head",
        sa.Column("chain", sa.String(length=16), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("chain", name=op.f("pk_audit_head")),
    )
    op.create_table(
        "auth_token",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column(
            "subject_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_auth_token_token_hash")),
    )
    with op.batch_alter_table("auth_token", schema=None) as batch_op:
        batch_op.create_index("ix_auth_token_subject", ["kind", "subject_id"], unique=False)

    city = op.create_table(
        "city",
        sa.Column("code", sa.String(length=6), nullable=False),
        sa.Column("name_zh", sa.String(length=16), nullable=False),
        sa.Column("name_en", sa.String(length=32), nullable=False),
        sa.Column("pilot", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_city")),
    )
    op.bulk_insert(city, [dict(zip(CITY_COLUMNS, row, strict=True)) for row in CITIES])
    op.create_table(
        "journal_entry",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("idempotency_key", sa.String(length=128), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("memo", sa.String(length=200), nullable=False),
        sa.Column("actor_label", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journal_entry")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_journal_entry_idempotency_key")),
    )
    op.create_table(
        "department_client",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("department", sa.String(length=32), nullable=False),
        sa.Column("city_code", sa.String(length=6), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["city_code"], ["city.code"], name=op.f("fk_department_client_city_code_city")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_department_client")),
    )
    op.create_table(
        "person",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("id_type", sa.String(length=32), nullable=False),
        sa.Column("id_number_enc", sa.LargeBinary(), nullable=False),
        sa.Column("id_number_bidx", sa.LargeBinary(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("sex", sa.String(length=1), nullable=False),
        sa.Column("phone_enc", sa.LargeBinary(), nullable=True),
        sa.Column("phone_bidx", sa.LargeBinary(length=32), nullable=True),
        sa.Column("city_code", sa.String(length=6), nullable=False),
        sa.Column("died_on", sa.Date(), nullable=True),
        sa.Column("disability_level", sa.SmallInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["city_code"], ["city.code"], name=op.f("fk_person_city_code_city")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person")),
        sa.UniqueConstraint("id_number_bidx", name=op.f("uq_person_id_number_bidx")),
    )
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_person_city_code"), ["city_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_person_phone_bidx"), ["phone_bidx"], unique=False)

    op.create_table(
        "staff_user",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("city_code", sa.String(length=6), nullable=True),
        sa.Column("department", sa.String(length=32), nullable=True),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("totp_secret_enc", sa.LargeBinary(), nullable=True),
        sa.Column("totp_enrolled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("totp_last_step", sa.BigInteger(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("failed_sign_ins", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "created_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.ForeignKeyConstraint(
            ["city_code"], ["city.code"], name=op.f("fk_staff_user_city_code_city")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_user")),
        sa.UniqueConstraint("username", name=op.f("uq_staff_user_username")),
    )
    op.create_table(
        "card",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("serial", sa.String(length=9), nullable=True),
        sa.Column("generation", sa.SmallInteger(), nullable=False),
        sa.Column("issuing_city", sa.String(length=6), nullable=False),
        sa.Column("bank_code", sa.String(length=16), nullable=False),
        sa.Column("bank_account_enc", sa.LargeBinary(), nullable=True),
        sa.Column("bank_account_bidx", sa.LargeBinary(length=32), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("sealed_from", sa.String(length=16), nullable=True),
        sa.Column("seal_reason", sa.String(length=16), nullable=True),
        sa.Column("issued_on", sa.Date(), nullable=True),
        sa.Column("expires_on", sa.Date(), nullable=True),
        sa.Column(
            "replaces_card_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("pin_hash", sa.String(length=255), nullable=True),
        sa.Column("pin_failed_tries", sa.Integer(), nullable=False),
        sa.Column("pin_locked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["issuing_city"], ["city.code"], name=op.f("fk_card_issuing_city_city")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_card_person_id_person")
        ),
        sa.ForeignKeyConstraint(
            ["replaces_card_id"], ["card.id"], name=op.f("fk_card_replaces_card_id_card")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_card")),
        sa.UniqueConstraint("serial", name=op.f("uq_card_serial")),
    )
    with op.batch_alter_table("card", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_card_bank_account_bidx"), ["bank_account_bidx"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_card_issuing_city"), ["issuing_city"], unique=False)
        batch_op.create_index("ix_card_person_id", ["person_id"], unique=False)
        batch_op.create_index(
            "uq_card_one_usable_per_person",
            ["person_id"],
            unique=True,
            sqlite_where=sa.text(
                "state IN ('active', 'applied', 'issued', 'produced', 'suspended')"
            ),
            postgresql_where=sa.text(
                "state IN ('active', 'applied', 'issued', 'produced', 'suspended')"
            ),
        )

    op.create_table(
        "card_event",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("card_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("from_state", sa.String(length=16), nullable=True),
        sa.Column("to_state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("actor_kind", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["card_id"], ["card.id"], name=op.f("fk_card_event_card_id_card")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_card_event")),
    )
    with op.batch_alter_table("card_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_card_event_card_id"), ["card_id"], unique=False)

    op.create_table(
        "ledger_account",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("card_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("department", sa.String(length=32), nullable=True),
        sa.Column("city_code", sa.String(length=6), nullable=True),
        sa.Column("owner_ref", sa.String(length=64), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("balance_fen", sa.BigInteger(), nullable=False),
        sa.Column("min_balance_fen", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('card', 'department_funding', 'operator_settlement', "
            "'merchant_settlement', 'campaign_budget', 'bank_clearing')",
            name=op.f("ck_ledger_account_kind"),
        ),
        sa.CheckConstraint(
            "status IN ('open', 'frozen', 'closed')", name=op.f("ck_ledger_account_status")
        ),
        sa.ForeignKeyConstraint(
            ["card_id"], ["card.id"], name=op.f("fk_ledger_account_card_id_card")
        ),
        sa.ForeignKeyConstraint(
            ["city_code"], ["city.code"], name=op.f("fk_ledger_account_city_code_city")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_account")),
        sa.UniqueConstraint("card_id", name=op.f("uq_ledger_account_card_id")),
    )
    with op.batch_alter_table("ledger_account", schema=None) as batch_op:
        batch_op.create_index(
            "ix_ledger_account_department", ["department", "city_code"], unique=False
        )
        batch_op.create_index("ix_ledger_account_kind_owner", ["kind", "owner_ref"], unique=False)

    op.create_table(
        "unseal_request",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("card_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column(
            "requested_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "decided_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["card_id"], ["card.id"], name=op.f("fk_unseal_request_card_id_card")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unseal_request")),
    )
    with op.batch_alter_table("unseal_request", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_unseal_request_card_id"), ["card_id"], unique=False)

    op.create_table(
        "journal_line",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("entry_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("amount_fen <> 0", name=op.f("ck_journal_line_amount_nonzero")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["ledger_account.id"],
            name=op.f("fk_journal_line_account_id_ledger_account"),
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["journal_entry.id"], name=op.f("fk_journal_line_entry_id_journal_entry")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journal_line")),
    )
    with op.batch_alter_table("journal_line", schema=None) as batch_op:
        batch_op.create_index("ix_journal_line_account_id_id", ["account_id", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_journal_line_entry_id"), ["entry_id"], unique=False)


def downgrade():
    with op.batch_alter_table("journal_line", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_journal_line_entry_id"))
        batch_op.drop_index("ix_journal_line_account_id_id")

    op.drop_table("journal_line")
    with op.batch_alter_table("unseal_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_unseal_request_card_id"))

    op.drop_table("unseal_request")
    with op.batch_alter_table("ledger_account", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_account_kind_owner")
        batch_op.drop_index("ix_ledger_account_department")

    op.drop_table("ledger_account")
    with op.batch_alter_table("card_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_card_event_card_id"))

    op.drop_table("card_event")
    with op.batch_alter_table("card", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_card_one_usable_per_person",
            sqlite_where=sa.text(
                "state IN ('active', 'applied', 'issued', 'produced', 'suspended')"
            ),
            postgresql_where=sa.text(
                "state IN ('active', 'applied', 'issued', 'produced', 'suspended')"
            ),
        )
        batch_op.drop_index("ix_card_person_id")
        batch_op.drop_index(batch_op.f("ix_card_issuing_city"))
        batch_op.drop_index(batch_op.f("ix_card_bank_account_bidx"))

    op.drop_table("card")
    op.drop_table("staff_user")
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_person_phone_bidx"))
        batch_op.drop_index(batch_op.f("ix_person_city_code"))

    op.drop_table("person")
    op.drop_table("department_client")
    op.drop_table("journal_entry")
    op.drop_table("city")
    with op.batch_alter_table("auth_token", schema=None) as batch_op:
        batch_op.drop_index("ix_auth_token_subject")

    op.drop_table("auth_token")
    op.drop_table("audit_head")
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_event_object")
        batch_op.drop_index(batch_op.f("ix_audit_event_action"))

    op.drop_table("audit_event")
