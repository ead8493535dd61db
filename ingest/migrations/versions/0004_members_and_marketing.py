"""Members and one-to-one marketing: members' household, join date, consent and contact limit; products'
brand and sensitivity; households, manufacturers' deals, personal lists, offers, disputes, CRM decisions,
campaigns and put-backs; sale lines' discount and offer, transactions' savings.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.add_column(sa.Column('household', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('joined_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('consent', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('max_contacts_per_week', sa.Integer(), server_default='2', nullable=False))
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.add_column(sa.Column('brand', sa.String(length=16), server_default='national', nullable=False))
        batch_op.add_column(sa.Column('sensitive', sa.Boolean(), server_default='0', nullable=False))
        batch_op.create_check_constraint(op.f('ck_products_brand'), "brand IN ('national', 'store')")
    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('saved', sa.String(length=24), server_default='0', nullable=False))
    with op.batch_alter_table('transaction_lines', schema=None) as batch_op:
        batch_op.add_column(sa.Column('discount', sa.String(length=24), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('offer_id', sa.String(length=300), nullable=True))

    op.create_table('households',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('store', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), server_default='', nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_households'))
    )
    op.create_table('deals',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('store', sa.String(length=64), nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=True),
    sa.Column('category', sa.String(length=64), nullable=True),
    sa.Column('discount_pct', sa.String(length=24), nullable=True),
    sa.Column('discount_abs', sa.String(length=24), nullable=True),
    sa.Column('valid_from', sa.DateTime(timezone=True), nullable=False),
    sa.Column('valid_to', sa.DateTime(timezone=True), nullable=False),
    sa.Column('funded_by', sa.String(length=200), server_default='', nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deals'))
    )
    op.create_table('personal_lists',
    sa.Column('id', sa.String(length=300), nullable=False),
    sa.Column('store', sa.String(length=64), nullable=False),
    sa.Column('member', sa.String(length=64), nullable=False),
    sa.Column('period_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('generated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('content', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_personal_lists'))
    )
    op.create_index(op.f('ix_personal_lists_member'), 'personal_lists', ['member'], unique=False)
    op.create_table('offers',
    sa.Column('id', sa.String(length=300), nullable=False),
    sa.Column('store', sa.String(length=64), nullable=False),
    sa.Column('member', sa.String(length=64), nullable=False),
    sa.Column('list_id', sa.String(length=300), nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('discount_abs', sa.String(length=24), server_default='0', nullable=False),
    sa.Column('deal_id', sa.String(length=64), nullable=True),
    sa.Column('active_from', sa.DateTime(timezone=True), nullable=False),
    sa.Column('active_to', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=10), server_default='active', nullable=False),
    sa.Column('reason', sa.Text(), server_default='', nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('redeemed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('transaction_id', sa.String(length=200), nullable=True),
    sa.CheckConstraint("kind IN ('price', 'reward')", name=op.f('ck_offers_kind')),
    sa.CheckConstraint("status IN ('active', 'redeemed', 'expired', 'withdrawn')", name=op.f('ck_offers_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_offers'))
    )
    op.create_index(op.f('ix_offers_member'), 'offers', ['member'], unique=False)
    op.create_table('disputes',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('store', sa.String(length=64), nullable=False),
    sa.Column('member', sa.String(length=64), nullable=False),
    sa.Column('transaction_id', sa.String(length=200), nullable=False),
    sa.Column('tag', sa.String(length=140), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.Text(), server_default='', nullable=False),
    sa.Column('status', sa.String(length=12), server_default='open', nullable=False),
    sa.Column('rule', sa.String(length=64), nullable=True),
    sa.Column('resolution', sa.Text(), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('open', 'refunded', 'kept', 'needs_human')", name=op.f('ck_disputes_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_disputes'))
    )
    op.create_index(op.f('ix_disputes_member'), 'disputes', ['member'], unique=False)
    op.create_table('crm_decisions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('store', sa.String(length=64), nullable=False),
    sa.Column('member', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('rule', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('context', sa.JSON(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_crm_decisions'))
    )
    op.create_index(op.f('ix_crm_decisions_member'), 'crm_decisions', ['member'], unique=False)
    op.create_table('campaigns',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('store', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('cost', sa.String(length=24), server_default='0', nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaigns'))
    )
    op.create_table('put_backs',
    sa.Column('store', sa.String(length=64), nullable=False),
    sa.Column('member', sa.String(length=64), nullable=False),
    sa.Column('tag', sa.String(length=140), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('store', 'member', 'tag', 'at', name=op.f('pk_put_backs'))
    )


def downgrade() -> None:
    op.drop_table('put_backs')
    op.drop_table('campaigns')
    op.drop_index(op.f('ix_crm_decisions_member'), table_name='crm_decisions')
    op.drop_table('crm_decisions')
    op.drop_index(op.f('ix_disputes_member'), table_name='disputes')
    op.drop_table('disputes')
    op.drop_index(op.f('ix_offers_member'), table_name='offers')
    op.drop_table('offers')
    op.drop_index(op.f('ix_personal_lists_member'), table_name='personal_lists')
    op.drop_table('personal_lists')
    op.drop_table('deals')
    op.drop_table('households')
    with op.batch_alter_table('transaction_lines', schema=None) as batch_op:
        batch_op.drop_column('offer_id')
        batch_op.drop_column('discount')
    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.drop_column('saved')
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_products_brand'), type_='check')
        batch_op.drop_column('sensitive')
        batch_op.drop_column('brand')
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.drop_column('max_contacts_per_week')
        batch_op.drop_column('consent')
        batch_op.drop_column('joined_at')
        batch_op.drop_column('household')
