"""Window state commitments: each window's state root (and the block it was anchored in),
and the state leaf of every batch the window touched, with its Merkle proof
(docs/proofs.md, "Completeness"). Windows committed before have none.

Revision ID: 0017
Revises: 0015
Create Date: 2026-12-04

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0017"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("windows", schema=None) as batch_op:
        batch_op.add_column(sa.Column("state_root", sa.LargeBinary(length=32), nullable=True))
        batch_op.add_column(sa.Column("state_block", sa.BigInteger(), nullable=True))
    op.create_table(
        "window_states",
        sa.Column("batch_id", sa.LargeBinary(length=32), nullable=False),
        sa.Column(
            "window_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("head", sa.LargeBinary(length=32), nullable=False),
        sa.Column("custodian", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("event_count", sa.BigInteger(), nullable=False),
        sa.Column("proof", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("batch_id", "window_id"),
    )
    with op.batch_alter_table("window_states", schema=None) as batch_op:
        batch_op.create_index("ix_window_states_window_id", ["window_id"], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("window_states")
    with op.batch_alter_table("windows", schema=None) as batch_op:
        batch_op.drop_column("state_block")
        batch_op.drop_column("state_root")
