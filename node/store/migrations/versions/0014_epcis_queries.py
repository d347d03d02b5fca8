"""EPCIS queries: each captured event's eventTime, and the terms it is found by.

Existing captured events are indexed here, from the payload of their first TraceEvent and
the context they were read under, with the same code capture uses (node.epcis.query), so
a query finds them as it finds new ones.

Revision ID: 0014
Revises: 0012
Create Date: 2026-12-04

"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0014"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("epcis_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("event_time", sa.BigInteger(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_epcis_events_event_time"), ["event_time"], unique=False
        )
    op.create_table(
        "epcis_terms",
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("value", sa.String(length=512), nullable=False),
        sa.Column("epcis_event_id", _ID, nullable=False),
        sa.ForeignKeyConstraint(["epcis_event_id"], ["epcis_events.id"]),
        sa.PrimaryKeyConstraint("kind", "value", "epcis_event_id"),
    )
    _index_existing()


def _index_existing() -> None:
    from node.epcis.hashid import epoch_millis
    from node.epcis.query import index_terms

    conn = op.get_bind()
    captured = conn.execute(
        sa.text("SELECT id, hash_id, trace_events, context FROM epcis_events")
    ).all()
    for row_id, hash_id, trace_events, context in captured:
        first = bytes(trace_events)[:32]
        payload = conn.execute(
            sa.text("SELECT payload FROM events WHERE event_hash = :h AND payload IS NOT NULL"),
            {"h": first},
        ).scalar()
        if payload is None:
            continue
        event = json.loads(bytes(payload))
        read_under = json.loads(bytes(context)) if context is not None else None
        try:
            when: int | None = epoch_millis(str(event.get("eventTime", "")))
        except ValueError:
            when = None
        conn.execute(
            sa.text("UPDATE epcis_events SET event_time = :t WHERE id = :i"),
            {"t": when, "i": row_id},
        )
        terms = index_terms(event, read_under, str(hash_id))
        if terms:
            conn.execute(
                sa.text(
                    "INSERT INTO epcis_terms (kind, value, epcis_event_id) VALUES (:k, :v, :i)"
                ),
                [{"k": k, "v": v, "i": row_id} for k, v in terms],
            )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("epcis_terms")
    with op.batch_alter_table("epcis_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_epcis_events_event_time"))
        batch_op.drop_column("event_time")
