"""The durable store: SQLModel tables on SQLite (default) or PostgreSQL, Alembic migrations.

Never imports the chain; the services are where store and chain meet.
"""
