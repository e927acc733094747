"""entrance status reason, help request cancellation

An entrance suspended by staff keeps the reason and when its status changed; a kiosk can
cancel its own open help request.

Revision ID: 97a51b41883d
Revises: c3079ca08d0b
Create Date: 2026-11-29 02:58:05.558055

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "97a51b41883d"
down_revision = "c3079ca08d0b"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("entrance", schema=None) as batch_op:
        batch_op.add_column(sa.Column("status_reason", sa.String(length=200), nullable=True))
        batch_op.add_column(
            sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table("help_request", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table("help_request", schema=None) as batch_op:
        batch_op.drop_column("cancelled_at")

    with op.batch_alter_table("entrance", schema=None) as batch_op:
        batch_op.drop_column("updated_at")
        batch_op.drop_column("status_changed_at")
        batch_op.drop_column("status_reason")
