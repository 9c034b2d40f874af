"""order parcels: the parcels a shipped order went in (carrier, tracking number, day)

Revision ID: b7d3e9a1c4f6
Revises: e1a9c3f5b7d2
Create Date: 2026-12-01 16:30:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'b7d3e9a1c4f6'
down_revision = 'e1a9c3f5b7d2'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('parcels', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_column('parcels')
