"""customer and contact names: 1- and 2-character grams for short search fragments

Revision ID: 5e1f0c3a9b27
Revises: 9cf0f5353cf2
Create Date: 2026-11-25 18:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5e1f0c3a9b27"
down_revision: str | None = "9cf0f5353cf2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Every character and every pair of adjacent characters of a name, lower-cased. A fragment
# of one or two characters (华为, 张) has no trigram, so the trigram index cannot find it;
# this array's GIN index can, and its statistics tell the planner how common a gram is.
# Duplicates are left in: GIN stores each key once per row anyway.
NAME_GRAMS = """
CREATE FUNCTION crm_name_grams(name text) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT coalesce(array_agg(substr(lower(name), i, len)), '{}')
    FROM generate_series(1, char_length(name)) AS i, (VALUES (1), (2)) AS lengths(len)
$$
"""


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    op.execute(NAME_GRAMS)
    op.create_index(
        "ix_customer_name_grams",
        "customer",
        [sa.text("crm_name_grams(name)")],
        unique=False,
        postgresql_using="gin",
    )
    op.create_index(
        "ix_contact_name_grams",
        "contact",
        [sa.text("crm_name_grams(name)")],
        unique=False,
        postgresql_using="gin",
    )


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    op.drop_index("ix_contact_name_grams", table_name="contact")
    op.drop_index("ix_customer_name_grams", table_name="customer")
    op.execute("DROP FUNCTION crm_name_grams(text)")
