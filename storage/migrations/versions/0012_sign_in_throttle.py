"""Sign-in throttle: the planner's e-mail sign-in requests counted per address and per client.

Revision ID: 0012_sign_in_throttle
Revises: 0011_ops_alerting
Create Date: 2026-12-05 23:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "0012_sign_in_throttle"
down_revision: str | None = "0011_ops_alerting"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sign_in_throttle",
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("window_started_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_sign_in_throttle")),
    )
    op.create_index(
        op.f("ix_sign_in_throttle_window_started_at"), "sign_in_throttle", ["window_started_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_sign_in_throttle_window_started_at"), table_name="sign_in_throttle")
    op.drop_table("sign_in_throttle")
