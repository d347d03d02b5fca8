"""Asynchronous EPCIS capture jobs: a job's progress (events in its document, events
decided so far) and, while it runs, the signed capture request itself, so that a node
stopped mid-job resumes it (docs/epcis.md, "Capture jobs").

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-05

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0026"
down_revision: str | Sequence[str] | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("epcis_capture_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("events_total", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("events_done", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("request", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("error", sa.LargeBinary(), nullable=True))
        batch_op.create_index("ix_epcis_capture_jobs_running", ["finished_at", "id"], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("epcis_capture_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_epcis_capture_jobs_running")
        batch_op.drop_column("error")
        batch_op.drop_column("request")
        batch_op.drop_column("events_done")
        batch_op.drop_column("events_total")
