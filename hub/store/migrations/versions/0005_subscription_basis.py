"""Every subscription records its legal basis: the subscription-policy rule of the register file that allows it.

``subscriptions.basis`` holds ``<rule>: <basis text>`` as the policy gave it when the subscription was made;
NULL for subscriptions stored before the hub had a subscription policy.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("subscriptions") as batch:
        batch.add_column(sa.Column("basis", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_column("basis")
