"""Commit windows: events grouped under a Merkle root and one transaction.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""

    op.create_table(
        "windows",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("first_seq", sa.BigInteger(), nullable=False),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.Column("root", sa.LargeBinary(length=32), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("raw_tx", sa.LargeBinary(), nullable=False),
        sa.Column("tx_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("block_hash", sa.LargeBinary(length=32), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("windows", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_windows_root"), ["root"], unique=False)
        batch_op.create_index(batch_op.f("ix_windows_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_windows_tx_hash"), ["tx_hash"], unique=False)

    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("window_id", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("anchor_seq", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("tree_index", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("proof", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("reason", sa.LargeBinary(), nullable=True))
        batch_op.create_index(batch_op.f("ix_events_window_id"), ["window_id"], unique=False)
        batch_op.create_index("ix_events_anchor_seq", ["anchor_seq"], unique=True)


def downgrade() -> None:
    """Downgrade schema."""

    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_anchor_seq")
        batch_op.drop_index(batch_op.f("ix_events_window_id"))
        batch_op.drop_column("reason")
        batch_op.drop_column("proof")
        batch_op.drop_column("tree_index")
        batch_op.drop_column("anchor_seq")
        batch_op.drop_column("window_id")

    with op.batch_alter_table("windows", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_windows_tx_hash"))
        batch_op.drop_index(batch_op.f("ix_windows_status"))
        batch_op.drop_index(batch_op.f("ix_windows_root"))

    op.drop_table("windows")
