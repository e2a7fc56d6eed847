"""A redelivery after an acknowledgement timeout stays one when it is parked or dead-lettered.

Before, a parked or dead-lettered delivery came back without its ``hub-resend`` mark, met the ledger's record
of the first delivery, and was reported a duplicate without being pushed.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

TABLES = ("parked", "dead_letters")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("resend", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("resend")
