"""transit fare adjustments

A tap uploaded after its trip's maximum fare was collected (or made a debt) completes the ride:
transit_fare_adjustment keeps what was charged before and how the difference went back to the
holder (debt reduced, or a refund credited to their bank account). transit_late_join lists the
charged trips a late tap joined and that wait for their adjustment; trips joined before this
revision (a tap pointing at an incomplete trip without being its entry or exit tap) are listed
by the upgrade, so the adjustment job takes them up too.

Revision ID: afb9d4280a0f
Revises: 6919e882564c
Create Date: 2026-11-29 09:57:04.070305

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "afb9d4280a0f"
down_revision = "6919e882564c"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "transit_fare_adjustment",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("trip_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("tap_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("card_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("original_incomplete", sa.String(length=12), nullable=False),
        sa.Column("original_base_fen", sa.Integer(), nullable=False),
        sa.Column("original_concession_fen", sa.Integer(), nullable=False),
        sa.Column("original_transfer_fen", sa.Integer(), nullable=False),
        sa.Column("original_volume_fen", sa.Integer(), nullable=False),
        sa.Column("original_cap_fen", sa.Integer(), nullable=False),
        sa.Column("original_charged_fen", sa.Integer(), nullable=False),
        sa.Column("refund_fen", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("refunded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "journal_entry_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("refund_key", sa.String(length=64), nullable=True),
        sa.Column("refund_attempted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "refund_card_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("refund_error", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["card_id"], ["card.id"], name=op.f("fk_transit_fare_adjustment_card_id_card")
        ),
        sa.ForeignKeyConstraint(
            ["refund_card_id"],
            ["card.id"],
            name=op.f("fk_transit_fare_adjustment_refund_card_id_card"),
        ),
        sa.ForeignKeyConstraint(
            ["tap_id"],
            ["transit_tap.id"],
            name=op.f("fk_transit_fare_adjustment_tap_id_transit_tap"),
        ),
        sa.ForeignKeyConstraint(
            ["trip_id"],
            ["transit_trip.id"],
            name=op.f("fk_transit_fare_adjustment_trip_id_transit_trip"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transit_fare_adjustment")),
        sa.UniqueConstraint("trip_id", name=op.f("uq_transit_fare_adjustment_trip_id")),
    )
    with op.batch_alter_table("transit_fare_adjustment", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_transit_fare_adjustment_card_id"), ["card_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_transit_fare_adjustment_status"), ["status"], unique=False
        )

    op.create_table(
        "transit_late_join",
        sa.Column("trip_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["trip_id"], ["transit_trip.id"], name=op.f("fk_transit_late_join_trip_id_transit_trip")
        ),
        sa.PrimaryKeyConstraint("trip_id", name=op.f("pk_transit_late_join")),
    )
    op.execute(
        """
        INSERT INTO transit_late_join (trip_id, created_at)
        SELECT DISTINCT trip.id, CURRENT_TIMESTAMP
        FROM transit_tap AS tap JOIN transit_trip AS trip ON trip.id = tap.trip_id
        WHERE trip.incomplete IS NOT NULL
          AND tap.id <> COALESCE(trip.entry_tap_id, 0)
          AND tap.id <> COALESCE(trip.exit_tap_id, 0)
        """
    )


def downgrade():
    op.drop_table("transit_late_join")
    with op.batch_alter_table("transit_fare_adjustment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_transit_fare_adjustment_status"))
        batch_op.drop_index(batch_op.f("ix_transit_fare_adjustment_card_id"))

    op.drop_table("transit_fare_adjustment")
