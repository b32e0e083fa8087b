"""The consent log: each customer's choices about personalisation, timestamped.

Revision ID: 0002
Create Date: 2026-11-27 02:40:18.623402
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "consent_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("shop_domain", sa.String(length=255), nullable=False),
        sa.Column("customer_key", sa.String(length=128), nullable=False),
        sa.Column("personalised", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_consent_log_customer", "consent_log", ["shop_domain", "customer_key", "recorded_at"]
    )


def downgrade() -> None:
    # Dropping a table drops its indexes.
    op.drop_table("consent_log")
