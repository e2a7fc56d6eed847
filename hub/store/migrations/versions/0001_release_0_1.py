"""The schema of release 0.1, the first the hub migrates from: ten tables and their indexes.

A database the hub created before it had migrations holds exactly this; ``hub.store.migrate`` stamps it with
this revision and upgrades it from here.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "acknowledgements",
        sa.Column("sender", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("receiver", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("at", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("sender", "message_id", "receiver"),
    )
    op.create_table(
        "archive",
        sa.Column("tracking_id", sa.String(length=64), nullable=False),
        sa.Column("sender_sor", sa.String(length=32), nullable=False),
        sa.Column("connector", sa.String(length=16), nullable=False),
        sa.Column("received_at", sa.String(length=40), nullable=False),
        sa.Column("key", sa.LargeBinary(), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("tracking_id"),
    )
    op.create_index(op.f("ix_archive_received_at"), "archive", ["received_at"], unique=False)
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("receiver", sa.String(length=64), nullable=False),
        sa.Column("tracking_id", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("sender", sa.String(length=64), nullable=False),
        sa.Column("event", sa.String(length=64), nullable=True),
        sa.Column("patient_key", sa.String(length=64), nullable=True),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Text(), nullable=False),
        sa.Column("dead_at", sa.String(length=40), nullable=False),
        sa.Column("redriven_at", sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_dead_letters_dead_at"), "dead_letters", ["dead_at"], unique=False)
    op.create_index(op.f("ix_dead_letters_receiver"), "dead_letters", ["receiver"], unique=False)
    op.create_index(op.f("ix_dead_letters_tracking_id"), "dead_letters", ["tracking_id"], unique=False)
    op.create_table(
        "deliveries",
        sa.Column("tracking_id", sa.String(length=64), nullable=False),
        sa.Column("receiver", sa.String(length=64), nullable=False),
        sa.Column("use", sa.String(length=16), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("ack_code", sa.String(length=32), nullable=True),
        sa.Column("overdue_count", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("tracking_id", "receiver"),
    )
    op.create_index(op.f("ix_deliveries_receiver"), "deliveries", ["receiver"], unique=False)
    op.create_index("ix_deliveries_status_updated_at", "deliveries", ["status", "updated_at"], unique=False)
    op.create_table(
        "handed_over",
        sa.Column("sender", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("receiver", sa.String(length=64), nullable=False),
        sa.Column("tracking_id", sa.String(length=64), nullable=False),
        sa.Column("at", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("sender", "message_id", "receiver"),
    )
    op.create_table(
        "mailbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("receiver", sa.String(length=64), nullable=False),
        sa.Column("tracking_id", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("event", sa.String(length=64), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.String(length=40), nullable=False),
        sa.Column("fetched_at", sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("receiver", "tracking_id", name="mailbox_one_copy_per_receiver"),
    )
    op.create_index(op.f("ix_mailbox_receiver"), "mailbox", ["receiver"], unique=False)
    op.create_table(
        "messages",
        sa.Column("tracking_id", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=True),
        sa.Column("bundle_id", sa.String(length=64), nullable=True),
        sa.Column("event", sa.String(length=64), nullable=True),
        sa.Column("sender", sa.String(length=64), nullable=True),
        sa.Column("patient", sa.String(length=16), nullable=True),
        sa.Column("connector", sa.String(length=16), nullable=True),
        sa.Column("received_at", sa.String(length=40), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("routed", sa.Boolean(), nullable=False),
        sa.Column("routing_failed", sa.Boolean(), nullable=False),
        sa.Column("rejected", sa.Boolean(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("tracking_id"),
    )
    op.create_index("ix_messages_event_received_at", "messages", ["event", "received_at"], unique=False)
    op.create_index(op.f("ix_messages_message_id"), "messages", ["message_id"], unique=False)
    op.create_index(op.f("ix_messages_patient"), "messages", ["patient"], unique=False)
    op.create_index(op.f("ix_messages_received_at"), "messages", ["received_at"], unique=False)
    op.create_index("ix_messages_sender_received_at", "messages", ["sender", "received_at"], unique=False)
    op.create_index("ix_messages_status_received_at", "messages", ["status", "received_at"], unique=False)
    op.create_table(
        "parked",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("receiver", sa.String(length=64), nullable=False),
        sa.Column("tracking_id", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("sender", sa.String(length=64), nullable=False),
        sa.Column("event", sa.String(length=64), nullable=True),
        sa.Column("patient_key", sa.String(length=64), nullable=True),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("first_attempt_at", sa.Float(), nullable=False),
        sa.Column("next_attempt_at", sa.Float(), nullable=False),
        sa.Column("attempts", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index(op.f("ix_parked_receiver"), "parked", ["receiver"], unique=False)
    op.create_table(
        "steps",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tracking_id", sa.String(length=64), nullable=False),
        sa.Column("at", sa.String(length=40), nullable=False),
        sa.Column("step", sa.String(length=32), nullable=False),
        sa.Column("receiver", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_steps_tracking_id"), "steps", ["tracking_id"], unique=False)
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("receiver", sa.String(length=64), nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("filters", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.String(length=40), nullable=False),
        sa.Column("updated_at", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_subscriptions_receiver"), "subscriptions", ["receiver"], unique=False)
    op.create_index(op.f("ix_subscriptions_status"), "subscriptions", ["status"], unique=False)
    op.create_index(op.f("ix_subscriptions_topic"), "subscriptions", ["topic"], unique=False)


def downgrade() -> None:
    op.drop_table("subscriptions")
    op.drop_table("steps")
    op.drop_table("parked")
    op.drop_table("messages")
    op.drop_table("mailbox")
    op.drop_table("handed_over")
    op.drop_table("deliveries")
    op.drop_table("dead_letters")
    op.drop_table("archive")
    op.drop_table("acknowledgements")
