"""EPCIS corrections: an errorDeclaration of a captured event is its own anchored event,
linked to the event it corrects (epcis_declarations), and each TraceEvent of a corrected
event names its declaration (epcis_corrected).

Revision ID: 0020
Revises: 0017
Create Date: 2026-12-04

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0020"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "epcis_declarations",
        sa.Column("id", _ID, nullable=False),
        sa.Column("hash_id", sa.String(length=128), nullable=False),
        sa.Column("trace_events", sa.LargeBinary(), nullable=False),
        sa.Column("declaration_time", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=512), nullable=True),
        sa.Column("corrective_event_ids", sa.LargeBinary(), nullable=False),
        sa.Column("captured_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("hash_id"),
    )
    op.create_table(
        "epcis_corrected",
        sa.Column("event_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("declaration_id", _ID, nullable=False),
        sa.ForeignKeyConstraint(["declaration_id"], ["epcis_declarations.id"]),
        sa.PrimaryKeyConstraint("event_hash"),
    )
    with op.batch_alter_table("epcis_corrected", schema=None) as batch_op:
        batch_op.create_index("ix_epcis_corrected_declaration_id", ["declaration_id"], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("epcis_corrected")
    op.drop_table("epcis_declarations")
