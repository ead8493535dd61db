"""Commands are published from the ``commands`` table until the broker took them: ``sent_at`` (NULL: still
to be sent). Rows from before this revision were published when they were made, so they count as sent.

Revision ID: 0006
Revises: 0004
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('commands', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_commands_sent_at'), ['sent_at'], unique=False)
    op.execute("UPDATE commands SET sent_at = issued_at")


def downgrade() -> None:
    with op.batch_alter_table('commands', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_commands_sent_at'))
        batch_op.drop_column('sent_at')
