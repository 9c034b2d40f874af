"""guest workspaces: a guest's parts live in a firm row marked by its browser key and expiry

Revision ID: 7b2f4c8d1e63
Revises: ccb0551f9b13
Create Date: 2026-11-30 15:00:00

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '7b2f4c8d1e63'
down_revision = 'ccb0551f9b13'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('firms', schema=None) as batch_op:
        batch_op.add_column(sa.Column('guest_key_sha256', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('guest_until', sa.DateTime(), nullable=True))
        batch_op.create_index(batch_op.f('ix_firms_guest_until'), ['guest_until'], unique=False)
        batch_op.create_unique_constraint('uq_firms_guest_key_sha256',
                                          ['guest_key_sha256'])


def downgrade():
    with op.batch_alter_table('firms', schema=None) as batch_op:
        batch_op.drop_constraint('uq_firms_guest_key_sha256', type_='unique')
        batch_op.drop_index(batch_op.f('ix_firms_guest_until'))
        batch_op.drop_column('guest_until')
        batch_op.drop_column('guest_key_sha256')
