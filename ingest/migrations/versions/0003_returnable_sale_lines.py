"""Returned items can be sold again without rewriting history: sale lines get ``returned_at``, and the
uniqueness of a line's tag holds only among unreturned lines (a partial unique index).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

UNRETURNED = sa.text("returned_at IS NULL")


def upgrade() -> None:
    with op.batch_alter_table('transaction_lines', schema=None) as batch_op:
        batch_op.add_column(sa.Column('returned_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_constraint('uq_transaction_lines_tag', type_='unique')
    op.create_index('uq_transaction_lines_unreturned_tag', 'transaction_lines', ['tag'], unique=True,
                    sqlite_where=UNRETURNED, postgresql_where=UNRETURNED)


def downgrade() -> None:
    op.drop_index('uq_transaction_lines_unreturned_tag', table_name='transaction_lines')
    with op.batch_alter_table('transaction_lines', schema=None) as batch_op:
        batch_op.create_unique_constraint('uq_transaction_lines_tag', ['tag'])
        batch_op.drop_column('returned_at')
