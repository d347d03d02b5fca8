"""Events linked to every batch they name, not only their subject.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema: the link table, filled for the multi-batch events already stored."""
    op.create_table(
        "event_batches",
        sa.Column("batch_id", sa.LargeBinary(length=32), nullable=False),
        sa.Column("event_hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("batch_id", "event_hash"),
    )
    # Before this revision only transformations named several batches, and each of them
    # has lineage rows naming its inputs (parent) and outputs (child).
    op.execute(
        "INSERT INTO event_batches (batch_id, event_hash) "
        "SELECT parent, event_hash FROM lineage UNION SELECT child, event_hash FROM lineage"
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("event_batches")
