"""Rest-hook subscriptions: notifications, numbered events, catch-up (the Subscriptions R5 Backport IG for R4).

``subscriptions.rest_hook`` holds the channel (endpoint, headers, payload content, heartbeat period, timeout) as
JSON, ``subscriptions.error`` why the hub set its status to error, ``subscriptions.events_count`` the last event
number given. ``subscription_events`` keeps each numbered event, for ``$events``. ``parked.via`` and
``dead_letters.via`` name the rest-hook subscription a delivery goes through (NULL: the register's endpoint).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("subscriptions") as batch:
        batch.add_column(sa.Column("rest_hook", sa.Text, nullable=True))
        batch.add_column(sa.Column("error", sa.Text, nullable=True))
        batch.add_column(sa.Column("events_count", sa.Integer, nullable=False, server_default="0"))
    for table in ("parked", "dead_letters"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("via", sa.String(64), nullable=True))
    op.create_table(
        "subscription_events",
        sa.Column("subscription_id", sa.String(64), primary_key=True),
        sa.Column("number", sa.Integer, primary_key=True),
        sa.Column("tracking_id", sa.String(64), nullable=False),
        sa.Column("message_id", sa.String(64), nullable=False),
        sa.Column("sender", sa.String(64), nullable=False),
        sa.Column("event", sa.String(64), nullable=True),
        sa.Column("at", sa.String(40), nullable=False),
        sa.UniqueConstraint("subscription_id", "tracking_id", name="uq_subscription_events_copy"),
    )
    op.create_index("ix_subscription_events_tracking_id", "subscription_events", ["tracking_id"])
    # a database older than the baseline got every index of the tables it had when stamped (hub.store.migrate)
    op.create_index("ix_messages_bundle_id", "messages", ["bundle_id"], if_not_exists=True)


def downgrade() -> None:
    op.drop_index("ix_messages_bundle_id", "messages")
    op.drop_index("ix_subscription_events_tracking_id", "subscription_events")
    op.drop_table("subscription_events")
    for table in ("dead_letters", "parked"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("via")
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_column("events_count")
        batch.drop_column("error")
        batch.drop_column("rest_hook")
