"""support decision: the firm's choice and the decision on quotes and quote lines, the
decision on print jobs

Revision ID: 3c7e9a1d5b20
Revises: db4338a3d71b
Create Date: 2026-11-30 15:20:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '3c7e9a1d5b20'
down_revision = 'db4338a3d71b'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('quotes', schema=None) as batch_op:
        # existing quotes were priced with supports where the estimate put them
        batch_op.add_column(sa.Column('supports', sa.String(length=8), nullable=False,
                                      server_default='auto'))
        batch_op.add_column(sa.Column('with_supports', sa.Boolean(), nullable=True))
    with op.batch_alter_table('quote_lines', schema=None) as batch_op:
        batch_op.add_column(sa.Column('supports', sa.String(length=8), nullable=False,
                                      server_default='auto'))
        batch_op.add_column(sa.Column('with_supports', sa.Boolean(), nullable=True))
    with op.batch_alter_table('print_jobs', schema=None) as batch_op:
        # existing jobs: no decision recorded (sliced without supports, as they were)
        batch_op.add_column(sa.Column('supports', sa.Boolean(), nullable=True))


def downgrade():
    with op.batch_alter_table('print_jobs', schema=None) as batch_op:
        batch_op.drop_column('supports')
    with op.batch_alter_table('quote_lines', schema=None) as batch_op:
        batch_op.drop_column('with_supports')
        batch_op.drop_column('supports')
    with op.batch_alter_table('quotes', schema=None) as batch_op:
        batch_op.drop_column('with_supports')
        batch_op.drop_column('supports')
