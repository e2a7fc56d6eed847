"""The audit of reads of patient data: who read what, when, from where, about which patients (as pseudonyms).

``read_audit`` holds one entry per read, ``read_audit_patient`` the pseudonyms of the patients each read touched
(indexed to answer "who read this patient"), ``read_audit_key`` the pseudonymisation key the hub made itself when
``HUB_AUDIT_PSEUDONYM_KEY`` is not set (one row, written once, shared by every hub process).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "read_audit",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("recorded_at", sa.String(length=40), nullable=False),
        sa.Column("person", sa.String(length=160), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("organisation", sa.String(length=64), nullable=True),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("what", sa.Text(), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_read_audit_recorded_at"), "read_audit", ["recorded_at"], unique=False)
    op.create_index(op.f("ix_read_audit_person"), "read_audit", ["person"], unique=False)
    op.create_index(op.f("ix_read_audit_organisation"), "read_audit", ["organisation"], unique=False)
    op.create_table(
        "read_audit_patient",
        sa.Column("entry_id", sa.String(length=32), nullable=False),
        sa.Column("patient_pseudonym", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("entry_id", "patient_pseudonym"),
    )
    op.create_index(
        op.f("ix_read_audit_patient_patient_pseudonym"), "read_audit_patient", ["patient_pseudonym"], unique=False
    )
    op.create_table(
        "read_audit_key",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("read_audit_key")
    op.drop_index(op.f("ix_read_audit_patient_patient_pseudonym"), table_name="read_audit_patient")
    op.drop_table("read_audit_patient")
    op.drop_index(op.f("ix_read_audit_organisation"), table_name="read_audit")
    op.drop_index(op.f("ix_read_audit_person"), table_name="read_audit")
    op.drop_index(op.f("ix_read_audit_recorded_at"), table_name="read_audit")
    op.drop_table("read_audit")
