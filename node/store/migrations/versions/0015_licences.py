"""The licence mirror: every licence of every identifier prefix, from ParticipantRegistry's
logs, fed by the participants' sync. The participants' cursor is reset so that the next
sync reads the registry's logs from the start and fills it (replaying the participants'
changes, in order, leaves them as they were).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "licences",
        sa.Column("kind", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("prefix", sa.String(length=64), nullable=False),
        sa.Column("block", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("holder", sa.BigInteger(), nullable=False),
        sa.Column("valid_from", sa.BigInteger(), nullable=False),
        sa.Column("valid_until", sa.BigInteger(), nullable=False),
        sa.Column("held", sa.Boolean(), nullable=False),
        sa.Column("revoked_block", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("kind", "prefix", "block", "log_index"),
    )
    with op.batch_alter_table("licences", schema=None) as batch_op:
        batch_op.create_index("ix_licences_holder", ["holder"], unique=False)
    op.execute(sa.text("DELETE FROM sync_cursors WHERE name = 'participants'"))


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("licences")
