"""EPCIS capture jobs, named queries and query subscriptions (REST bindings): each capture
recorded as a job with its outcomes, a participant's named SimpleEventQueries, and their
subscriptions, delivered through webhook endpoints.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0021"
down_revision: str | Sequence[str] | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "epcis_capture_jobs",
        sa.Column("id", _ID, nullable=False),
        sa.Column("capture_id", sa.String(length=64), nullable=False),
        sa.Column("submitter", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("finished_at", sa.BigInteger(), nullable=True),
        sa.Column("behaviour", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("outcomes", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("capture_id"),
    )
    with op.batch_alter_table("epcis_capture_jobs", schema=None) as batch_op:
        batch_op.create_index("ix_epcis_capture_jobs_submitter", ["submitter", "id"], unique=False)
    op.create_table(
        "epcis_named_queries",
        sa.Column("id", _ID, nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("definition", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("owner", "name", name="uq_epcis_named_queries_owner"),
    )
    op.create_table(
        "epcis_subscriptions",
        sa.Column("id", _ID, nullable=False),
        sa.Column("subscription_id", sa.String(length=64), nullable=False),
        sa.Column("query_id", _ID, nullable=False),
        sa.Column("endpoint_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["query_id"], ["epcis_named_queries.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("subscription_id"),
    )
    with op.batch_alter_table("epcis_subscriptions", schema=None) as batch_op:
        batch_op.create_index("ix_epcis_subscriptions_query_id", ["query_id"], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("epcis_subscriptions")
    op.drop_table("epcis_named_queries")
    op.drop_table("epcis_capture_jobs")
