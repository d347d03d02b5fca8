"""Time-local indexes: random keys after an epoch, so a large store ingests like a small one.

Events were indexed by their hash and by their batch id, and batches by their identifier:
random keys, so once those indexes outgrew a few thousand pages every stored event
dirtied a page of its own in each of them, and SQLite's commits grew with the store.
Now the hash and batch-id indexes lead with an epoch (node.store.tables.EPOCH_BITS): the
event's own, and its subject batch's. The identifier index goes (the batch id is derived
from the identifier, and the primary key already makes both unique), and every subject
of a stored event gets a batches row (status NONE for pallets and for batches the chain
never created) so that its epoch is known.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EPOCH_BITS = 14  # node.store.tables.EPOCH_BITS when this revision was written
# SQLite reflects the unnamed UNIQUE constraints of revision 0001 without a name: name them.
NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _unique_name(table: str, column: str) -> str:
    if op.get_bind().dialect.name == "postgresql":
        return f"{table}_{column}_key"
    return f"uq_{table}_{column}"


def upgrade() -> None:
    """Upgrade schema; existing rows get their epochs."""
    with op.batch_alter_table("batches", naming_convention=NAMING) as batch_op:
        batch_op.add_column(sa.Column("epoch", sa.BigInteger(), nullable=False, server_default="0"))
        batch_op.drop_constraint(_unique_name("batches", "identifier"), type_="unique")
    with op.batch_alter_table("events", naming_convention=NAMING) as batch_op:
        batch_op.add_column(sa.Column("epoch", sa.BigInteger(), nullable=False, server_default="0"))
        batch_op.add_column(
            sa.Column("batch_epoch", sa.BigInteger(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("event_batches") as batch_op:
        batch_op.add_column(
            sa.Column("event_id", sa.BigInteger(), nullable=False, server_default="0")
        )

    # Fill in, while the old indexes still serve the lookups.
    op.execute(f"UPDATE events SET epoch = id >> {EPOCH_BITS}")  # noqa: S608 - a constant
    op.execute(
        "INSERT INTO batches (batch_id, producer_id, custodian_id, receiver_id, status, head, "
        "created_by, epoch) "
        "SELECT e.batch_id, 0, 0, 0, 0, e.prev_event_hash, e.event_hash, e.epoch "
        "FROM events e WHERE e.id IN (SELECT min(id) FROM events GROUP BY batch_id) "
        "AND NOT EXISTS (SELECT 1 FROM batches b WHERE b.batch_id = e.batch_id)"
    )
    op.execute(
        "UPDATE batches SET epoch = COALESCE("
        "(SELECT min(e.epoch) FROM events e WHERE e.batch_id = batches.batch_id), 0)"
    )
    op.execute(
        "UPDATE events SET batch_epoch = "
        "(SELECT b.epoch FROM batches b WHERE b.batch_id = events.batch_id)"
    )
    op.execute(
        "UPDATE event_batches SET event_id = "
        "(SELECT e.id FROM events e WHERE e.event_hash = event_batches.event_hash)"
    )

    with op.batch_alter_table("events", naming_convention=NAMING) as batch_op:
        batch_op.drop_constraint(_unique_name("events", "event_hash"), type_="unique")
        batch_op.drop_index("ix_events_batch_id")
        batch_op.create_index("ix_events_epoch_hash", ["epoch", "event_hash"], unique=False)
        batch_op.create_index("ix_events_batch", ["batch_epoch", "batch_id", "id"], unique=False)


def downgrade() -> None:
    """Downgrade schema; the NONE rows go (earlier revisions would read them as batches)."""
    op.execute("DELETE FROM batches WHERE status = 0")
    with op.batch_alter_table("events", naming_convention=NAMING) as batch_op:
        batch_op.drop_index("ix_events_batch")
        batch_op.drop_index("ix_events_epoch_hash")
        batch_op.create_index("ix_events_batch_id", ["batch_id", "id"], unique=False)
        batch_op.create_unique_constraint(_unique_name("events", "event_hash"), ["event_hash"])
        batch_op.drop_column("batch_epoch")
        batch_op.drop_column("epoch")
    with op.batch_alter_table("event_batches") as batch_op:
        batch_op.drop_column("event_id")
    with op.batch_alter_table("batches", naming_convention=NAMING) as batch_op:
        batch_op.create_unique_constraint(_unique_name("batches", "identifier"), ["identifier"])
        batch_op.drop_column("epoch")
