"""EPCIS events captured: CBV 2.0 hash IDs and the TraceEvents they map to.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""

    op.create_table(
        "epcis_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("hash_id", sa.String(length=128), nullable=False),
        sa.Column("event_id", sa.String(length=512), nullable=True),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("trace_events", sa.LargeBinary(), nullable=False),
        sa.Column("context", sa.LargeBinary(), nullable=True),
        sa.Column("captured_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("hash_id"),
    )
    with op.batch_alter_table("epcis_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_epcis_events_event_id"), ["event_id"], unique=False)


def downgrade() -> None:
    """Downgrade schema."""

    with op.batch_alter_table("epcis_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_epcis_events_event_id"))
    op.drop_table("epcis_events")
