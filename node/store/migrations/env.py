"""Alembic environment: runs on the connection the node hands it (see node.store.engine)."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import node.store.models  # noqa: F401 - registers the tables on SQLModel.metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through node.store.engine.migrate(engine)")
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
