"""Anchor-only windows: each window's transition root (None: an enforced window) and its
transition leaves, one per (event, batch), with their Merkle proofs (docs/proofs.md,
"Anchor-only windows").

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-05

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0025"
down_revision: str | Sequence[str] | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("windows", schema=None) as batch_op:
        batch_op.add_column(sa.Column("transition_root", sa.LargeBinary(length=32), nullable=True))
    op.create_table(
        "window_transitions",
        sa.Column(
            "window_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("event_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("leaf", sa.LargeBinary(), nullable=False),
        sa.Column("proof", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("window_id", "position"),
    )
    with op.batch_alter_table("window_transitions", schema=None) as batch_op:
        batch_op.create_index("ix_window_transitions_event_hash", ["event_hash"], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("window_transitions")
    with op.batch_alter_table("windows", schema=None) as batch_op:
        batch_op.drop_column("transition_root")
