"""Initial schema: store layout, catalog, members and tags, items, visits, baskets, sales, alerts,
commands, dead letters, gateway bookkeeping and the latest sensor values.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('alerts',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('store', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('severity', sa.String(length=8), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('zone', sa.String(length=64), nullable=True),
    sa.Column('tag', sa.String(length=140), nullable=True),
    sa.Column('member', sa.String(length=64), nullable=True),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('cleared_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alerts'))
    )
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alerts_at'), ['at'], unique=False)
        batch_op.create_index('ix_alerts_open', ['cleared_at', 'kind'], unique=False)

    op.create_table('baskets',
    sa.Column('id', sa.String(length=200), nullable=False),
    sa.Column('store', sa.String(length=64), nullable=False),
    sa.Column('member', sa.String(length=64), nullable=False),
    sa.Column('lane', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=10), server_default='open', nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('open', 'held', 'committed')", name=op.f('ck_baskets_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_baskets'))
    )
    op.create_table('commands',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('store', sa.String(length=64), nullable=False),
    sa.Column('gateway', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('target', sa.String(length=64), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ack_ok', sa.Boolean(), nullable=True),
    sa.Column('ack_error', sa.String(length=200), nullable=True),
    sa.Column('acked_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_commands'))
    )
    with op.batch_alter_table('commands', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_commands_issued_at'), ['issued_at'], unique=False)

    op.create_table('config_version',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_config_version'))
    )
    op.create_table('dead_letters',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('topic', sa.String(length=300), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('payload', sa.LargeBinary(), nullable=False),
    sa.Column('payload_size', sa.Integer(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dead_letters'))
    )
    with op.batch_alter_table('dead_letters', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dead_letters_received_at'), ['received_at'], unique=False)

    op.create_table('gateway_batches',
    sa.Column('store', sa.String(length=64), nullable=False),
    sa.Column('gateway', sa.String(length=64), nullable=False),
    sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('store', 'gateway', 'seq', name=op.f('pk_gateway_batches'))
    )
    op.create_table('gateways',
    sa.Column('store', sa.String(length=64), nullable=False),
    sa.Column('gateway', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=8), nullable=False),
    sa.Column('last_seen', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_seq', sa.Integer(), nullable=True),
    sa.Column('last_batch_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('config', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('store', 'gateway', name=op.f('pk_gateways'))
    )
    op.create_table('sensor_latest',
    sa.Column('sensor', sa.String(length=64), nullable=False),
    sa.Column('store', sa.String(length=64), nullable=False),
    sa.Column('gateway', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.Column('unit', sa.String(length=16), server_default='', nullable=False),
    sa.Column('zone', sa.String(length=64), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('sensor', name=op.f('pk_sensor_latest'))
    )
    op.create_table('stores',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), server_default='', nullable=False),
    sa.Column('currency', sa.String(length=3), server_default='EUR', nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stores'))
    )
    op.create_table('tag_bindings',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tag', sa.String(length=140), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('ref', sa.String(length=64), nullable=False),
    sa.Column('valid_from', sa.DateTime(timezone=True), nullable=True),
    sa.Column('valid_to', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("kind IN ('member', 'staff', 'item')", name=op.f('ck_tag_bindings_kind')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tag_bindings'))
    )
    with op.batch_alter_table('tag_bindings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tag_bindings_tag'), ['tag'], unique=False)

    op.create_table('transactions',
    sa.Column('id', sa.String(length=200), nullable=False),
    sa.Column('store', sa.String(length=64), nullable=False),
    sa.Column('member', sa.String(length=64), nullable=False),
    sa.Column('lane', sa.String(length=64), nullable=False),
    sa.Column('total', sa.String(length=24), nullable=False),
    sa.Column('points', sa.Integer(), server_default='0', nullable=False),
    sa.Column('trigger', sa.String(length=8), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transactions'))
    )
    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_transactions_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_transactions_member'), ['member'], unique=False)

    op.create_table('visits',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('store', sa.String(length=64), nullable=False),
    sa.Column('member', sa.String(length=64), nullable=False),
    sa.Column('zone', sa.String(length=64), nullable=True),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('close_reason', sa.String(length=16), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_visits'))
    )
    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_visits_member'), ['member'], unique=False)

    op.create_table('basket_items',
    sa.Column('basket_id', sa.String(length=200), nullable=False),
    sa.Column('tag', sa.String(length=140), nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['basket_id'], ['baskets.id'], name=op.f('fk_basket_items_basket_id_baskets')),
    sa.PrimaryKeyConstraint('basket_id', 'tag', name=op.f('pk_basket_items'))
    )
    op.create_table('members',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('store', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('is_staff', sa.Boolean(), server_default='0', nullable=False),
    sa.ForeignKeyConstraint(['store'], ['stores.id'], name=op.f('fk_members_store_stores')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_members'))
    )
    op.create_table('products',
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('store', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('price', sa.String(length=24), nullable=False),
    sa.Column('gtin', sa.String(length=14), nullable=True),
    sa.Column('category', sa.String(length=64), server_default='', nullable=False),
    sa.Column('reorder_below', sa.Integer(), server_default='0', nullable=False),
    sa.ForeignKeyConstraint(['store'], ['stores.id'], name=op.f('fk_products_store_stores')),
    sa.PrimaryKeyConstraint('sku', name=op.f('pk_products'))
    )
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_products_gtin'), ['gtin'], unique=False)

    op.create_table('transaction_lines',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('transaction_id', sa.String(length=200), nullable=False),
    sa.Column('tag', sa.String(length=140), nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('unit_price', sa.String(length=24), nullable=False),
    sa.ForeignKeyConstraint(['transaction_id'], ['transactions.id'], name=op.f('fk_transaction_lines_transaction_id_transactions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transaction_lines')),
    sa.UniqueConstraint('tag', name=op.f('uq_transaction_lines_tag'))
    )
    with op.batch_alter_table('transaction_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_transaction_lines_transaction_id'), ['transaction_id'], unique=False)

    op.create_table('zones',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('store', sa.String(length=64), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('display', sa.String(length=64), nullable=True),
    sa.Column('alarm', sa.String(length=64), nullable=True),
    sa.Column('gateway', sa.String(length=64), nullable=True),
    sa.CheckConstraint("type IN ('entrance', 'shelf', 'lane', 'exit', 'backroom', 'cooler')", name=op.f('ck_zones_type')),
    sa.ForeignKeyConstraint(['store'], ['stores.id'], name=op.f('fk_zones_store_stores')),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_zones'))
    )
    op.create_table('items',
    sa.Column('tag', sa.String(length=140), nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=10), server_default='in_store', nullable=False),
    sa.Column('last_zone', sa.String(length=64), nullable=True),
    sa.Column('last_seen', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('in_store', 'sold', 'missing')", name=op.f('ck_items_status')),
    sa.ForeignKeyConstraint(['sku'], ['products.sku'], name=op.f('fk_items_sku_products')),
    sa.PrimaryKeyConstraint('tag', name=op.f('pk_items'))
    )
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_items_sku'), ['sku'], unique=False)
        batch_op.create_index('ix_items_sku_status_zone', ['sku', 'status', 'last_zone'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.drop_index('ix_items_sku_status_zone')
        batch_op.drop_index(batch_op.f('ix_items_sku'))

    op.drop_table('items')
    op.drop_table('zones')
    with op.batch_alter_table('transaction_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_transaction_lines_transaction_id'))

    op.drop_table('transaction_lines')
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_products_gtin'))

    op.drop_table('products')
    op.drop_table('members')
    op.drop_table('basket_items')
    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_visits_member'))

    op.drop_table('visits')
    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_transactions_member'))
        batch_op.drop_index(batch_op.f('ix_transactions_at'))

    op.drop_table('transactions')
    with op.batch_alter_table('tag_bindings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tag_bindings_tag'))

    op.drop_table('tag_bindings')
    op.drop_table('stores')
    op.drop_table('sensor_latest')
    op.drop_table('gateways')
    op.drop_table('gateway_batches')
    with op.batch_alter_table('dead_letters', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dead_letters_received_at'))

    op.drop_table('dead_letters')
    op.drop_table('config_version')
    with op.batch_alter_table('commands', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_commands_issued_at'))

    op.drop_table('commands')
    op.drop_table('baskets')
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_index('ix_alerts_open')
        batch_op.drop_index(batch_op.f('ix_alerts_at'))

    op.drop_table('alerts')
