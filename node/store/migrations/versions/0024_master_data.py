"""EPCIS master data: an index of master-data assertions (accepted events whose payload is
a CBV vocabulary element) by the record key of the code they describe.

Revision ID: 0024
Revises: 0021
Create Date: 2026-12-04

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0024"
down_revision: str | Sequence[str] | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "master_data",
        sa.Column("id", _ID, nullable=False),
        sa.Column("key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("event_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("participant_id", sa.BigInteger(), nullable=False),
        sa.Column("element", sa.LargeBinary(), nullable=False),
        sa.Column("received_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_hash"),
    )
    with op.batch_alter_table("master_data", schema=None) as batch_op:
        batch_op.create_index("ix_master_data_key", ["key", "id"], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("master_data")
