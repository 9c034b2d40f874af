"""part thumbnails: the state of each part's picture

Revision ID: 3d7c1e5a9f20
Revises: 5eca0a37d701
Create Date: 2026-11-30 14:55:00

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '3d7c1e5a9f20'
down_revision = '5eca0a37d701'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('parts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('thumbnail_state', sa.String(length=16), nullable=True))


def downgrade():
    with op.batch_alter_table('parts', schema=None) as batch_op:
        batch_op.drop_column('thumbnail_state')
