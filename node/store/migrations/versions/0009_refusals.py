"""The refusal record: what the gateway refused, for the monitor's rules over the ingest
stream (docs/monitor.md).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "refusals",
        sa.Column("id", _ID, nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("caller", sa.String(length=96), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=True),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("claimed_participant", sa.BigInteger(), nullable=True),
        sa.Column("signer", sa.LargeBinary(length=20), nullable=True),
        sa.Column("action", sa.Integer(), nullable=True),
        sa.Column("event_hash", sa.LargeBinary(length=32), nullable=True),
        sa.Column("nonce", sa.LargeBinary(length=32), nullable=True),
        sa.Column("batch_ids", sa.LargeBinary(), nullable=False),
        sa.Column("heads", sa.LargeBinary(), nullable=False),
        sa.Column("detail", sa.String(length=256), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("refusals", schema=None) as batch_op:
        batch_op.create_index("ix_refusals_at", ["at"], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("refusals")
