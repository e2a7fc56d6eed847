"""Alembic's environment for the hub: migrations run on the connection ``hub.store.migrate`` hands over."""

from __future__ import annotations

from alembic import context

from hub.store.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
