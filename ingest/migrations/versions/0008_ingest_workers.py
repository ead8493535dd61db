"""Several ingest workers share the stores: a heartbeat per worker, a lease (owner and epoch) per store, and
the hand-over table for messages that reached a worker that does not own their store.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ingest_workers',
    sa.Column('worker', sa.String(length=64), nullable=False),
    sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('worker', name=op.f('pk_ingest_workers'))
    )
    op.create_table('ingest_leases',
    sa.Column('store', sa.String(length=64), nullable=False),
    sa.Column('worker', sa.String(length=64), nullable=True),
    sa.Column('epoch', sa.Integer(), server_default='0', nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('store', name=op.f('pk_ingest_leases')),
    sa.UniqueConstraint('store', 'epoch', name=op.f('uq_ingest_leases_store_epoch'))
    )
    op.create_table('ingest_handoff',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('store', sa.String(length=64), nullable=False),
    sa.Column('topic', sa.String(length=300), nullable=False),
    sa.Column('payload', sa.LargeBinary(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ingest_handoff')),
    sqlite_autoincrement=True,
    )
    op.create_index('ix_ingest_handoff_store_id', 'ingest_handoff', ['store', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_ingest_handoff_store_id', table_name='ingest_handoff')
    op.drop_table('ingest_handoff')
    op.drop_table('ingest_leases')
    op.drop_table('ingest_workers')
