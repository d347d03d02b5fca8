"""Webhook subscriptions by several batches and by identifier prefixes: the single
``batch_id`` becomes ``batch_ids`` (0x ids, comma-separated), beside ``prefixes``.

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-04

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0012"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ENDPOINTS = sa.table(
    "webhook_endpoints",
    sa.column("id", sa.BigInteger()),
    sa.column("batch_id", sa.LargeBinary()),
    sa.column("batch_ids", sa.Text()),
)


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.add_column(sa.Column("batch_ids", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("prefixes", sa.Text(), nullable=False, server_default=""))
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(_ENDPOINTS.c.id, _ENDPOINTS.c.batch_id).where(_ENDPOINTS.c.batch_id.is_not(None))
    ).all()
    for endpoint_id, batch_id in rows:
        conn.execute(
            _ENDPOINTS.update()
            .where(_ENDPOINTS.c.id == endpoint_id)
            .values(batch_ids="0x" + bytes(batch_id).hex())
        )
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.alter_column("batch_ids", server_default=None)
        batch_op.alter_column("prefixes", server_default=None)
        batch_op.drop_column("batch_id")


def downgrade() -> None:
    """Downgrade schema (an endpoint keeps its first batch; its prefixes are lost)."""
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.add_column(sa.Column("batch_id", sa.LargeBinary(length=32), nullable=True))
    conn = op.get_bind()
    rows = conn.execute(sa.select(_ENDPOINTS.c.id, _ENDPOINTS.c.batch_ids)).all()
    for endpoint_id, batch_ids in rows:
        if batch_ids:
            first = bytes.fromhex(str(batch_ids).split(",")[0][2:])
            conn.execute(
                _ENDPOINTS.update().where(_ENDPOINTS.c.id == endpoint_id).values(batch_id=first)
            )
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.drop_column("prefixes")
        batch_op.drop_column("batch_ids")
