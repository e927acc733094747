"""transit collection and repayment attempts

When the collection job asked the bank for a trip's fare: from the first attempt the fare is
fixed (taps no longer re-price the trip) and an unanswered debit is retried with the same amount
and key after SSC_TRANSIT_COLLECT_RETRY_S. A repayment of debts asked of the bank and not yet
recorded: its key, when it was asked and the card whose account was asked, so that a retry asks
again under the same key for the same debts. Existing rows have no attempt on record.

Revision ID: 6919e882564c
Revises: 97a51b41883d
Create Date: 2026-11-29 07:26:27.768732

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "6919e882564c"
down_revision = "97a51b41883d"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("transit_trip", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("collection_attempted_at", sa.DateTime(timezone=True), nullable=True)
        )

    with op.batch_alter_table("transit_debt", schema=None) as batch_op:
        batch_op.add_column(sa.Column("repay_key", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("repay_attempted_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "repay_card_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
            )
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_transit_debt_repay_card_id_card"), "card", ["repay_card_id"], ["id"]
        )


def downgrade():
    with op.batch_alter_table("transit_debt", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_transit_debt_repay_card_id_card"), type_="foreignkey"
        )
        batch_op.drop_column("repay_card_id")
        batch_op.drop_column("repay_attempted_at")
        batch_op.drop_column("repay_key")

    with op.batch_alter_table("transit_trip", schema=None) as batch_op:
        batch_op.drop_column("collection_attempted_at")
