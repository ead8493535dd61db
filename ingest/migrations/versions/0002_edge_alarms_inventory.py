"""Explanations, edge alarms and inventory: transaction explanations, alert rule/details/source/latency,
items' unseen inventory cycles, products' home zones, zones' neighbours and the inventory cycle reports.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('explanation', sa.JSON(), nullable=True))
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rule', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('details', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('source', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('latency_ms', sa.Float(), nullable=True))
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('unseen_cycles', sa.Integer(), server_default='0', nullable=False))
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.add_column(sa.Column('home_zones', sa.JSON(), nullable=True))
    with op.batch_alter_table('zones', schema=None) as batch_op:
        batch_op.add_column(sa.Column('neighbours', sa.JSON(), nullable=True))
    op.create_table('inventory_cycles',
    sa.Column('store', sa.String(length=64), nullable=False),
    sa.Column('zone', sa.String(length=64), nullable=False),
    sa.Column('cycle', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('current_count', sa.Integer(), nullable=False),
    sa.Column('additions', sa.JSON(), nullable=False),
    sa.Column('deletions', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('store', 'zone', 'cycle', name=op.f('pk_inventory_cycles'))
    )


def downgrade() -> None:
    op.drop_table('inventory_cycles')
    with op.batch_alter_table('zones', schema=None) as batch_op:
        batch_op.drop_column('neighbours')
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.drop_column('home_zones')
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.drop_column('unseen_cycles')
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_column('latency_ms')
        batch_op.drop_column('source')
        batch_op.drop_column('details')
        batch_op.drop_column('rule')
    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.drop_column('explanation')
