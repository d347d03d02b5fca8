"""Initial schema: participants mirror, events, batches, lineage.

Revision ID: 0001
Revises:
Create Date: 2026-11-24

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""

    op.create_table(
        "batches",
        sa.Column("batch_id", sa.LargeBinary(length=32), nullable=False),
        sa.Column("identifier", sa.String(length=512), nullable=True),
        sa.Column("producer_id", sa.BigInteger(), nullable=False),
        sa.Column("custodian_id", sa.BigInteger(), nullable=False),
        sa.Column("receiver_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("head", sa.LargeBinary(length=32), nullable=False),
        sa.Column("created_by", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("batch_id"),
        sa.UniqueConstraint("identifier"),
    )
    with op.batch_alter_table("batches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_batches_custodian_id"), ["custodian_id"], unique=False)

    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("event_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("action", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.LargeBinary(length=32), nullable=False),
        sa.Column("prev_event_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("inputs", sa.LargeBinary(), nullable=False),
        sa.Column("input_prev_hashes", sa.LargeBinary(), nullable=False),
        sa.Column("outputs", sa.LargeBinary(), nullable=False),
        sa.Column("counterparty", sa.LargeBinary(length=20), nullable=False),
        sa.Column("product", sa.LargeBinary(length=32), nullable=False),
        sa.Column("quantity", sa.String(length=78), nullable=False),
        sa.Column("event_time", sa.BigInteger(), nullable=False),
        sa.Column("location", sa.LargeBinary(length=32), nullable=False),
        sa.Column("payload_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("nonce", sa.LargeBinary(length=32), nullable=False),
        sa.Column("signer", sa.LargeBinary(length=20), nullable=False),
        sa.Column("participant_id", sa.BigInteger(), nullable=False),
        sa.Column("signature", sa.LargeBinary(length=65), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=True),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_hash"),
        sa.UniqueConstraint("signer", "nonce", name="uq_events_signer_nonce"),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_batch_id", ["batch_id", "id"], unique=False)
        batch_op.create_index("ix_events_status", ["status", "id"], unique=False)

    op.create_table(
        "lineage",
        sa.Column("parent", sa.LargeBinary(length=32), nullable=False),
        sa.Column("child", sa.LargeBinary(length=32), nullable=False),
        sa.Column("event_hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("parent", "child"),
    )
    with op.batch_alter_table("lineage", schema=None) as batch_op:
        batch_op.create_index("ix_lineage_child", ["child"], unique=False)

    op.create_table(
        "participant_keys",
        sa.Column("key", sa.LargeBinary(length=20), nullable=False),
        sa.Column("participant_id", sa.BigInteger(), nullable=False),
        sa.Column("valid_from", sa.BigInteger(), nullable=False),
        sa.Column("valid_until", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("key"),
    )
    with op.batch_alter_table("participant_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_participant_keys_participant_id"), ["participant_id"], unique=False
        )

    op.create_table(
        "participant_status",
        sa.Column("participant_id", sa.BigInteger(), nullable=False),
        sa.Column("block", sa.BigInteger(), nullable=False),
        sa.Column("roles", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("participant_id", "block"),
    )
    op.create_table(
        "participants",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("key", sa.LargeBinary(length=20), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=64), nullable=False),
        sa.Column("roles", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("updated_block", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    with op.batch_alter_table("participants", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_participants_prefix"), ["prefix"], unique=False)

    op.create_table(
        "sync_cursors",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("block", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    """Downgrade schema."""

    op.drop_table("sync_cursors")
    with op.batch_alter_table("participants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_participants_prefix"))

    op.drop_table("participants")
    op.drop_table("participant_status")
    with op.batch_alter_table("participant_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_participant_keys_participant_id"))

    op.drop_table("participant_keys")
    with op.batch_alter_table("lineage", schema=None) as batch_op:
        batch_op.drop_index("ix_lineage_child")

    op.drop_table("lineage")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_status")
        batch_op.drop_index("ix_events_batch_id")

    op.drop_table("events")
    with op.batch_alter_table("batches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_batches_custodian_id"))

    op.drop_table("batches")
