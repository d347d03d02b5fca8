"""Alerts become incidents: a rule's finding is raised once and updated as evidence grows
(``incident`` is its key), graded with a score, and handled (status, who, why).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    # Nothing ever wrote an alert before this revision (no monitor ran): start afresh,
    # so that every row has an incident key.
    op.execute("DELETE FROM alerts")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("score", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(
            sa.Column("incident", sa.String(length=256), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("status", sa.Integer(), nullable=False, server_default="1"))
        batch_op.add_column(sa.Column("participant_id", sa.BigInteger(), nullable=True))
        batch_op.add_column(
            sa.Column("evidence", sa.LargeBinary(), nullable=False, server_default="{}")
        )
        batch_op.add_column(
            sa.Column("updated_at", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("occurrences", sa.Integer(), nullable=False, server_default="1")
        )
        batch_op.add_column(
            sa.Column("handled_by", sa.String(length=128), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("note", sa.String(length=1024), nullable=False, server_default="")
        )
        batch_op.create_unique_constraint("uq_alerts_incident", ["incident"])
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        for name in (
            "score",
            "incident",
            "status",
            "evidence",
            "updated_at",
            "occurrences",
            "handled_by",
            "note",
        ):
            batch_op.alter_column(name, server_default=None)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_constraint("uq_alerts_incident", type_="unique")
        for name in (
            "note",
            "handled_by",
            "occurrences",
            "updated_at",
            "evidence",
            "participant_id",
            "status",
            "incident",
            "score",
        ):
            batch_op.drop_column(name)
