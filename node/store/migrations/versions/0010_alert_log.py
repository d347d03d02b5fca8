"""The alert log: every revision of every alert, hash-chained, signed by the node key and
anchored on AnchorRegistry, so an alert cannot be quietly deleted or edited
(docs/monitor.md, "The alert log").

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revision", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("log_seq", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.alter_column("revision", server_default=None)
    op.create_table(
        "alert_log",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("alert_id", sa.BigInteger(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(length=32), nullable=False),
        sa.Column("prev", sa.LargeBinary(length=32), nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("digest", sa.LargeBinary(length=32), nullable=True),
        sa.Column("signature", sa.LargeBinary(length=65), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("hash"),
    )
    op.create_index("ix_alert_log_alert", "alert_log", ["alert_id", "seq"], unique=False)
    state = op.create_table(
        "alert_log_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("head", sa.LargeBinary(length=32), nullable=False),
        sa.Column("anchored_count", sa.BigInteger(), nullable=False),
        sa.Column("anchored_head", sa.LargeBinary(length=32), nullable=True),
        sa.Column("anchored_block", sa.BigInteger(), nullable=True),
        sa.Column("anchored_tx", sa.LargeBinary(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(state, [{"id": 1, "seq": 0, "head": bytes(32), "anchored_count": 0}])


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("alert_log_state")
    op.drop_index("ix_alert_log_alert", table_name="alert_log")
    op.drop_table("alert_log")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_column("log_seq")
        batch_op.drop_column("revision")
