"""transit trip collection attempts

When the collection job asked the bank for a trip's fare. From the first attempt the fare is
fixed: taps no longer re-price the trip, and an unanswered debit is retried with the same amount
and key after SSC_TRANSIT_COLLECT_RETRY_S. Existing trips have no attempt on record.

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


def downgrade():
    with op.batch_alter_table("transit_trip", schema=None) as batch_op:
        batch_op.drop_column("collection_attempted_at")
