"""A configuration version per store instead of one for the whole database, so that seeding or editing one
store of a chain reloads only that store's ingest. Each existing store starts from the old global version.

Revision ID: 0010
Revises: 0008
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('store_config_versions',
    sa.Column('store', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('store', name=op.f('pk_store_config_versions'))
    )
    op.execute("INSERT INTO store_config_versions (store, version, updated_at) "
               "SELECT s.id, c.version, c.updated_at FROM stores s CROSS JOIN config_version c WHERE c.id = 1")
    op.drop_table('config_version')


def downgrade() -> None:
    op.create_table('config_version',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_config_version'))
    )
    op.execute("INSERT INTO config_version (id, version, updated_at) "
               "SELECT 1, total, newest FROM (SELECT SUM(version) AS total, MAX(updated_at) AS newest "
               "FROM store_config_versions) AS versions WHERE total IS NOT NULL")  # no row for no store
    op.drop_table('store_config_versions')
