"""Receiving systems subscribe themselves through ``/fhir/Subscription`` (the Subscriptions R5 Backport IG for R4).

``subscriptions.channel`` holds the FHIR channel type of a subscription made there (``message``: the hub delivers
the MedCom messages themselves), ``subscriptions.created_by`` who made it (the organisation's register id, or the
operator's name); both NULL for subscriptions made through ``/api/subscriptions`` or the register file.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("subscriptions") as batch:
        batch.add_column(sa.Column("channel", sa.String(16), nullable=True))
        batch.add_column(sa.Column("created_by", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_column("created_by")
        batch.drop_column("channel")
