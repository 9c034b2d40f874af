"""one order per quote: a unique index on orders.quote_id (two concurrent orders of one quote
both passed the check before)

Revision ID: 7d2e4f6a8b10
Revises: 3c7e9a1d5b20
Create Date: 2026-11-30 16:25:00.000000

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '7d2e4f6a8b10'
down_revision = '3c7e9a1d5b20'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_orders_quote_id', 'orders', ['quote_id'], unique=True)


def downgrade():
    op.drop_index('ix_orders_quote_id', table_name='orders')
