"""fare adjustments of later rides

A late tap's adjustment may make a later ride of the card cheaper (a transfer from the completed
ride): both tables say why a trip is adjusted (``late_tap`` | ``earlier_ride``) and, for a later
ride, which trip's completion caused it. Such an adjustment has no late tap of its own and its
trip was complete, so ``tap_id`` and ``original_incomplete`` may be empty.

Downgrading deletes the ``earlier_ride`` rows (the old schema cannot hold them); their refunds
stay in the journal.

Revision ID: d0d184ae2fa2
Revises: afb9d4280a0f
Create Date: 2026-11-29 11:45:49.027314

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "d0d184ae2fa2"
down_revision = "afb9d4280a0f"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("transit_fare_adjustment", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("reason", sa.String(length=16), server_default="late_tap", nullable=False)
        )
        batch_op.add_column(
            sa.Column(
                "caused_by_trip_id",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                nullable=True,
            )
        )
        batch_op.alter_column(
            "tap_id",
            existing_type=sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        )
        batch_op.alter_column(
            "original_incomplete", existing_type=sa.VARCHAR(length=12), nullable=True
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_transit_fare_adjustment_caused_by_trip_id_transit_trip"),
            "transit_trip",
            ["caused_by_trip_id"],
            ["id"],
        )

    with op.batch_alter_table("transit_late_join", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("reason", sa.String(length=16), server_default="late_tap", nullable=False)
        )
        batch_op.add_column(
            sa.Column(
                "caused_by_trip_id",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                nullable=True,
            )
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_transit_late_join_caused_by_trip_id_transit_trip"),
            "transit_trip",
            ["caused_by_trip_id"],
            ["id"],
        )


def downgrade():
    op.execute("DELETE FROM transit_late_join WHERE reason = 'earlier_ride'")
    op.execute("DELETE FROM transit_fare_adjustment WHERE reason = 'earlier_ride'")
    with op.batch_alter_table("transit_late_join", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_transit_late_join_caused_by_trip_id_transit_trip"), type_="foreignkey"
        )
        batch_op.drop_column("caused_by_trip_id")
        batch_op.drop_column("reason")

    with op.batch_alter_table("transit_fare_adjustment", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_transit_fare_adjustment_caused_by_trip_id_transit_trip"),
            type_="foreignkey",
        )
        batch_op.alter_column(
            "original_incomplete", existing_type=sa.VARCHAR(length=12), nullable=False
        )
        batch_op.alter_column(
            "tap_id",
            existing_type=sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        )
        batch_op.drop_column("caused_by_trip_id")
        batch_op.drop_column("reason")
