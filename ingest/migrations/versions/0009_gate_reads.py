"""The exit gates' recent reads, so that a pass under way survives an ingest restart or a store's move.

Revision ID: 0009
Revises: 0010 (0010 landed first; the revisions run 0008, 0010, 0009)
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('gate_reads',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('store', sa.String(length=64), nullable=False),
    sa.Column('zone', sa.String(length=64), nullable=False),
    sa.Column('tag', sa.String(length=140), nullable=False),
    sa.Column('reader', sa.String(length=64), nullable=False),
    sa.Column('antenna', sa.Integer(), nullable=False),
    sa.Column('rssi', sa.Float(), nullable=True),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_gate_reads'))
    )
    op.create_index('ix_gate_reads_store_at', 'gate_reads', ['store', 'at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_gate_reads_store_at', table_name='gate_reads')
    op.drop_table('gate_reads')
