"""order terms version: the wording of the hub's terms (AGB) an order was placed under

Revision ID: e1a9c3f5b7d2
Revises: 9e4b2c7a1f30
Create Date: 2026-12-01 13:05:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'e1a9c3f5b7d2'
down_revision = '9e4b2c7a1f30'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('terms_version', sa.String(length=32), nullable=True))


def downgrade():
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_column('terms_version')
