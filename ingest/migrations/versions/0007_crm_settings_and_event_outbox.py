"""The store's ``[crm]`` settings for the dashboard, and an outbox of business events decided outside ingest
(dispute outcomes) that ingest publishes.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('crm_settings',
    sa.Column('store', sa.String(length=64), nullable=False),
    sa.Column('settings', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('store', name=op.f('pk_crm_settings'))
    )
    op.create_table('event_outbox',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('store', sa.String(length=64), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_event_outbox'))
    )
    op.create_index('ix_event_outbox_pending', 'event_outbox', ['published_at', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_event_outbox_pending', table_name='event_outbox')
    op.drop_table('event_outbox')
    op.drop_table('crm_settings')
