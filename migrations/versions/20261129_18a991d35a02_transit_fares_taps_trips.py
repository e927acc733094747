"""transit: fare data, taps, trips, batches, debts, card chip counter

GTFS-Fares v2 tables and the project's fare extensions (operators, concession policies, caps,
volume discounts, duration fares, incomplete-trip rules, fare imports); terminal placements,
taps, trips, offline tap batches and transit debts; the chip counter on cards (cloned-card check).

Revision ID: 18a991d35a02
Revises: 66b7628b1ccb
Create Date: 2026-11-29 01:16:18.775420

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "18a991d35a02"
down_revision = "66b7628b1ccb"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "fare_area",
        sa.Column("area_id", sa.String(length=64), nullable=False),
        sa.Column("area_name", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("area_id", name=op.f("pk_fare_area")),
    )
    op.create_table(
        "fare_import",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("file_hashes", sa.Text(), nullable=False),
        sa.Column("row_counts", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fare_import")),
    )
    op.create_table(
        "fare_media",
        sa.Column("fare_media_id", sa.String(length=64), nullable=False),
        sa.Column("fare_media_name", sa.String(length=200), nullable=True),
        sa.Column("fare_media_type", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("fare_media_id", name=op.f("pk_fare_media")),
    )
    op.create_table(
        "fare_rider_category",
        sa.Column("rider_category_id", sa.String(length=64), nullable=False),
        sa.Column("rider_category_name", sa.String(length=200), nullable=False),
        sa.Column("is_default_fare_category", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("rider_category_id", name=op.f("pk_fare_rider_category")),
    )
    op.create_table(
        "fare_cap",
        sa.Column("cap_id", sa.String(length=64), nullable=False),
        sa.Column("city_code", sa.String(length=6), nullable=False),
        sa.Column("modes", sa.String(length=100), nullable=False),
        sa.Column("period", sa.String(length=8), nullable=False),
        sa.Column("amount_fen", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["city_code"], ["city.code"], name=op.f("fk_fare_cap_city_code_city")
        ),
        sa.PrimaryKeyConstraint("cap_id", name=op.f("pk_fare_cap")),
    )
    op.create_table(
        "fare_concession_policy",
        sa.Column("policy_id", sa.String(length=64), nullable=False),
        sa.Column("city_code", sa.String(length=6), nullable=False),
        sa.Column("mode", sa.String(length=12), nullable=False),
        sa.Column("rider_category_id", sa.String(length=64), nullable=False),
        sa.Column("discount", sa.String(length=8), nullable=False),
        sa.Column("percent_off", sa.Integer(), nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("other_cities", sa.String(length=12), nullable=False),
        sa.ForeignKeyConstraint(
            ["city_code"], ["city.code"], name=op.f("fk_fare_concession_policy_city_code_city")
        ),
        sa.ForeignKeyConstraint(
            ["rider_category_id"],
            ["fare_rider_category.rider_category_id"],
            name=op.f("fk_fare_concession_policy_rider_category_id_fare_rider_category"),
        ),
        sa.PrimaryKeyConstraint("policy_id", name=op.f("pk_fare_concession_policy")),
    )
    op.create_table(
        "fare_product",
        sa.Column("fare_product_id", sa.String(length=64), nullable=False),
        sa.Column("fare_product_name", sa.String(length=200), nullable=True),
        sa.Column("rider_category_id", sa.String(length=64), nullable=True),
        sa.Column("fare_media_id", sa.String(length=64), nullable=True),
        sa.Column("amount_fen", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.ForeignKeyConstraint(
            ["fare_media_id"],
            ["fare_media.fare_media_id"],
            name=op.f("fk_fare_product_fare_media_id_fare_media"),
        ),
        sa.ForeignKeyConstraint(
            ["rider_category_id"],
            ["fare_rider_category.rider_category_id"],
            name=op.f("fk_fare_product_rider_category_id_fare_rider_category"),
        ),
        sa.PrimaryKeyConstraint("fare_product_id", name=op.f("pk_fare_product")),
    )
    op.create_table(
        "fare_volume_discount",
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("city_code", sa.String(length=6), nullable=False),
        sa.Column("modes", sa.String(length=100), nullable=False),
        sa.Column("after_rides", sa.Integer(), nullable=False),
        sa.Column("percent_off", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=8), nullable=False),
        sa.ForeignKeyConstraint(
            ["city_code"], ["city.code"], name=op.f("fk_fare_volume_discount_city_code_city")
        ),
        sa.PrimaryKeyConstraint("rule_id", name=op.f("pk_fare_volume_discount")),
    )
    op.create_table(
        "transit_operator",
        sa.Column("operator_id", sa.String(length=64), nullable=False),
        sa.Column("name_zh", sa.String(length=100), nullable=False),
        sa.Column("name_en", sa.String(length=100), nullable=False),
        sa.Column("city_code", sa.String(length=6), nullable=False),
        sa.Column("mode", sa.String(length=12), nullable=False),
        sa.ForeignKeyConstraint(
            ["city_code"], ["city.code"], name=op.f("fk_transit_operator_city_code_city")
        ),
        sa.PrimaryKeyConstraint("operator_id", name=op.f("pk_transit_operator")),
    )
    op.create_table(
        "transit_stop",
        sa.Column("stop_id", sa.String(length=64), nullable=False),
        sa.Column("stop_name", sa.String(length=200), nullable=False),
        sa.Column("stop_lat", sa.Float(), nullable=True),
        sa.Column("stop_lon", sa.Float(), nullable=True),
        sa.Column("city_code", sa.String(length=6), nullable=False),
        sa.ForeignKeyConstraint(
            ["city_code"], ["city.code"], name=op.f("fk_transit_stop_city_code_city")
        ),
        sa.PrimaryKeyConstraint("stop_id", name=op.f("pk_transit_stop")),
    )
    op.create_table(
        "fare_stop_area",
        sa.Column("area_id", sa.String(length=64), nullable=False),
        sa.Column("stop_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["area_id"], ["fare_area.area_id"], name=op.f("fk_fare_stop_area_area_id_fare_area")
        ),
        sa.ForeignKeyConstraint(
            ["stop_id"],
            ["transit_stop.stop_id"],
            name=op.f("fk_fare_stop_area_stop_id_transit_stop"),
        ),
        sa.PrimaryKeyConstraint("area_id", "stop_id", name=op.f("pk_fare_stop_area")),
    )
    op.create_table(
        "fare_transfer_rule",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("from_leg_group_id", sa.String(length=64), nullable=True),
        sa.Column("to_leg_group_id", sa.String(length=64), nullable=True),
        sa.Column("transfer_count", sa.Integer(), nullable=True),
        sa.Column("duration_limit", sa.Integer(), nullable=True),
        sa.Column("duration_limit_type", sa.Integer(), nullable=True),
        sa.Column("fare_transfer_type", sa.Integer(), nullable=False),
        sa.Column("fare_product_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["fare_product_id"],
            ["fare_product.fare_product_id"],
            name=op.f("fk_fare_transfer_rule_fare_product_id_fare_product"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fare_transfer_rule")),
    )
    op.create_table(
        "transit_network",
        sa.Column("network_id", sa.String(length=64), nullable=False),
        sa.Column("network_name", sa.String(length=200), nullable=True),
        sa.Column("operator_id", sa.String(length=64), nullable=False),
        sa.Column("city_code", sa.String(length=6), nullable=False),
        sa.Column("mode", sa.String(length=12), nullable=False),
        sa.ForeignKeyConstraint(
            ["city_code"], ["city.code"], name=op.f("fk_transit_network_city_code_city")
        ),
        sa.ForeignKeyConstraint(
            ["operator_id"],
            ["transit_operator.operator_id"],
            name=op.f("fk_transit_network_operator_id_transit_operator"),
        ),
        sa.PrimaryKeyConstraint("network_id", name=op.f("pk_transit_network")),
    )
    op.create_table(
        "transit_tap_batch",
        sa.Column("batch_id", sa.String(length=64), nullable=False),
        sa.Column(
            "terminal_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tap_count", sa.Integer(), nullable=False),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("refused", sa.Integer(), nullable=False),
        sa.Column("results", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["terminal_id"], ["terminal.id"], name=op.f("fk_transit_tap_batch_terminal_id_terminal")
        ),
        sa.PrimaryKeyConstraint("batch_id", name=op.f("pk_transit_tap_batch")),
    )
    with op.batch_alter_table("transit_tap_batch", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_transit_tap_batch_terminal_id"), ["terminal_id"], unique=False
        )

    op.create_table(
        "transit_terminal_placement",
        sa.Column(
            "terminal_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("network_id", sa.String(length=64), nullable=False),
        sa.Column("stop_id", sa.String(length=64), nullable=True),
        sa.Column("placed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["terminal_id"],
            ["terminal.id"],
            name=op.f("fk_transit_terminal_placement_terminal_id_terminal"),
        ),
        sa.PrimaryKeyConstraint("terminal_id", name=op.f("pk_transit_terminal_placement")),
    )
    op.create_table(
        "fare_duration_fare",
        sa.Column("network_id", sa.String(length=64), nullable=False),
        sa.Column("free_minutes", sa.Integer(), nullable=False),
        sa.Column("block_minutes", sa.Integer(), nullable=False),
        sa.Column("block_fen", sa.Integer(), nullable=False),
        sa.Column("max_fen", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["network_id"],
            ["transit_network.network_id"],
            name=op.f("fk_fare_duration_fare_network_id_transit_network"),
        ),
        sa.PrimaryKeyConstraint("network_id", name=op.f("pk_fare_duration_fare")),
    )
    op.create_table(
        "fare_incomplete_trip",
        sa.Column("network_id", sa.String(length=64), nullable=False),
        sa.Column("no_exit_fen", sa.Integer(), nullable=True),
        sa.Column("no_entry_fen", sa.Integer(), nullable=True),
        sa.Column("exit_timeout_minutes", sa.Integer(), nullable=True),
        sa.Column("same_station_minutes", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["network_id"],
            ["transit_network.network_id"],
            name=op.f("fk_fare_incomplete_trip_network_id_transit_network"),
        ),
        sa.PrimaryKeyConstraint("network_id", name=op.f("pk_fare_incomplete_trip")),
    )
    op.create_table(
        "fare_leg_rule",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("leg_group_id", sa.String(length=64), nullable=True),
        sa.Column("network_id", sa.String(length=64), nullable=False),
        sa.Column("from_area_id", sa.String(length=64), nullable=True),
        sa.Column("to_area_id", sa.String(length=64), nullable=True),
        sa.Column("fare_product_id", sa.String(length=64), nullable=False),
        sa.Column("rule_priority", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["fare_product_id"],
            ["fare_product.fare_product_id"],
            name=op.f("fk_fare_leg_rule_fare_product_id_fare_product"),
        ),
        sa.ForeignKeyConstraint(
            ["from_area_id"],
            ["fare_area.area_id"],
            name=op.f("fk_fare_leg_rule_from_area_id_fare_area"),
        ),
        sa.ForeignKeyConstraint(
            ["network_id"],
            ["transit_network.network_id"],
            name=op.f("fk_fare_leg_rule_network_id_transit_network"),
        ),
        sa.ForeignKeyConstraint(
            ["to_area_id"],
            ["fare_area.area_id"],
            name=op.f("fk_fare_leg_rule_to_area_id_fare_area"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fare_leg_rule")),
    )
    with op.batch_alter_table("fare_leg_rule", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_fare_leg_rule_network_id"), ["network_id"], unique=False
        )

    op.create_table(
        "transit_tap",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "terminal_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("local_seq", sa.BigInteger(), nullable=True),
        sa.Column("batch_id", sa.String(length=64), nullable=True),
        sa.Column("medium", sa.String(length=8), nullable=False),
        sa.Column("credential_serial", sa.BigInteger(), nullable=True),
        sa.Column("credential_counter", sa.BigInteger(), nullable=True),
        sa.Column("card_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("network_id", sa.String(length=64), nullable=False),
        sa.Column("stop_id", sa.String(length=64), nullable=True),
        sa.Column("amount_fen", sa.Integer(), nullable=True),
        sa.Column("tapped_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=True),
        sa.Column("trip_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.ForeignKeyConstraint(["card_id"], ["card.id"], name=op.f("fk_transit_tap_card_id_card")),
        sa.ForeignKeyConstraint(
            ["terminal_id"], ["terminal.id"], name=op.f("fk_transit_tap_terminal_id_terminal")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transit_tap")),
        sa.UniqueConstraint("terminal_id", "local_seq", name="uq_transit_tap_terminal_seq"),
    )
    with op.batch_alter_table("transit_tap", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_transit_tap_card_id"), ["card_id"], unique=False)
        batch_op.create_index(
            "ix_transit_tap_credential", ["credential_serial", "credential_counter"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_transit_tap_trip_id"), ["trip_id"], unique=False)

    op.create_table(
        "transit_trip",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("card_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("network_id", sa.String(length=64), nullable=False),
        sa.Column("operator_id", sa.String(length=64), nullable=False),
        sa.Column("mode", sa.String(length=12), nullable=False),
        sa.Column("city_code", sa.String(length=6), nullable=False),
        sa.Column("home_city", sa.String(length=6), nullable=False),
        sa.Column("rider_categories", sa.String(length=128), nullable=False),
        sa.Column("from_stop_id", sa.String(length=64), nullable=True),
        sa.Column("to_stop_id", sa.String(length=64), nullable=True),
        sa.Column(
            "entry_tap_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "exit_tap_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("service_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("incomplete", sa.String(length=12), nullable=True),
        sa.Column("base_fen", sa.Integer(), nullable=False),
        sa.Column("concession_fen", sa.Integer(), nullable=False),
        sa.Column("transfer_fen", sa.Integer(), nullable=False),
        sa.Column("volume_fen", sa.Integer(), nullable=False),
        sa.Column("cap_fen", sa.Integer(), nullable=False),
        sa.Column("charged_fen", sa.Integer(), nullable=False),
        sa.Column("leg_group_id", sa.String(length=64), nullable=True),
        sa.Column("fare_product_id", sa.String(length=64), nullable=True),
        sa.Column("rider_category_id", sa.String(length=64), nullable=True),
        sa.Column("concession_policy_id", sa.String(length=64), nullable=True),
        sa.Column("notes", sa.String(length=200), nullable=True),
        sa.Column("transfer_count", sa.Integer(), nullable=False),
        sa.Column("payment_status", sa.String(length=12), nullable=False),
        sa.Column(
            "journal_entry_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("priced_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["card_id"], ["card.id"], name=op.f("fk_transit_trip_card_id_card")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transit_trip")),
    )
    with op.batch_alter_table("transit_trip", schema=None) as batch_op:
        batch_op.create_index(
            "ix_transit_trip_card_started", ["card_id", "started_at"], unique=False
        )
        batch_op.create_index("ix_transit_trip_open", ["card_id", "status"], unique=False)
        batch_op.create_index(
            "ix_transit_trip_operator_date", ["operator_id", "service_date"], unique=False
        )

    op.create_table(
        "transit_debt",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("card_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("trip_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("amount_fen", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("repaid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "journal_entry_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.ForeignKeyConstraint(
            ["card_id"], ["card.id"], name=op.f("fk_transit_debt_card_id_card")
        ),
        sa.ForeignKeyConstraint(
            ["trip_id"], ["transit_trip.id"], name=op.f("fk_transit_debt_trip_id_transit_trip")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transit_debt")),
        sa.UniqueConstraint("trip_id", name=op.f("uq_transit_debt_trip_id")),
    )
    with op.batch_alter_table("transit_debt", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_transit_debt_card_id"), ["card_id"], unique=False)

    with op.batch_alter_table("card", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("chip_counter", sa.BigInteger(), server_default="0", nullable=False)
        )


def downgrade():
    with op.batch_alter_table("card", schema=None) as batch_op:
        batch_op.drop_column("chip_counter")

    with op.batch_alter_table("transit_debt", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_transit_debt_card_id"))

    op.drop_table("transit_debt")
    with op.batch_alter_table("transit_trip", schema=None) as batch_op:
        batch_op.drop_index("ix_transit_trip_operator_date")
        batch_op.drop_index("ix_transit_trip_open")
        batch_op.drop_index("ix_transit_trip_card_started")

    op.drop_table("transit_trip")
    with op.batch_alter_table("transit_tap", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_transit_tap_trip_id"))
        batch_op.drop_index("ix_transit_tap_credential")
        batch_op.drop_index(batch_op.f("ix_transit_tap_card_id"))

    op.drop_table("transit_tap")
    with op.batch_alter_table("fare_leg_rule", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fare_leg_rule_network_id"))

    op.drop_table("fare_leg_rule")
    op.drop_table("fare_incomplete_trip")
    op.drop_table("fare_duration_fare")
    op.drop_table("transit_terminal_placement")
    with op.batch_alter_table("transit_tap_batch", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_transit_tap_batch_terminal_id"))

    op.drop_table("transit_tap_batch")
    op.drop_table("transit_network")
    op.drop_table("fare_transfer_rule")
    op.drop_table("fare_stop_area")
    op.drop_table("transit_stop")
    op.drop_table("transit_operator")
    op.drop_table("fare_volume_discount")
    op.drop_table("fare_product")
    op.drop_table("fare_concession_policy")
    op.drop_table("fare_cap")
    op.drop_table("fare_rider_category")
    op.drop_table("fare_media")
    op.drop_table("fare_import")
    op.drop_table("fare_area")
