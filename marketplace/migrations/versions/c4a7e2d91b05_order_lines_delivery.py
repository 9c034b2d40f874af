"""order lines and delivery: quotes of several parts (quote_lines), a print job's line,
the cart, delivery (express, shipping address, terms) on quotes and orders, the price an
order was placed at; existing quotes become quotes of one line

Revision ID: c4a7e2d91b05
Revises: 7b2f4c8d1e63
Create Date: 2026-11-30 15:10:00

"""
import sqlalchemy as sa
from alembic import op

revision = 'c4a7e2d91b05'
down_revision = '7b2f4c8d1e63'
branch_labels = None
depends_on = None

PART_CODES = ("material", "machine", "discount")


def upgrade():
    op.create_table('quote_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('quote_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('part_id', sa.Integer(), nullable=False),
    sa.Column('material_code', sa.String(length=16), nullable=False),
    sa.Column('colour', sa.String(length=32), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('infill_percent', sa.Integer(), nullable=False),
    sa.Column('layer_height_mm', sa.Float(), nullable=False),
    sa.Column('units', sa.String(length=8), nullable=False),
    sa.Column('material_g', sa.Float(), nullable=False),
    sa.Column('print_time_s', sa.Integer(), nullable=False),
    sa.Column('net_cents', sa.Integer(), nullable=False),
    sa.Column('breakdown', sa.JSON(), nullable=False),
    sa.Column('bbox_mm', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['part_id'], ['parts.id'], ),
    sa.ForeignKeyConstraint(['quote_id'], ['quotes.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('quote_id', 'position')
    )
    with op.batch_alter_table('quote_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quote_lines_part_id'), ['part_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_quote_lines_quote_id'), ['quote_id'], unique=False)
    op.create_table('cart_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('part_id', sa.Integer(), nullable=False),
    sa.Column('options', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['part_id'], ['parts.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('public_id')
    )
    with op.batch_alter_table('cart_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cart_items_user_id'), ['user_id'], unique=False)
    with op.batch_alter_table('quotes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('delivery', sa.String(length=16), nullable=False,
                                      server_default='pickup'))
        batch_op.add_column(sa.Column('express', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column('ship_to', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('terms', sa.JSON(), nullable=True))
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('express', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column('ship_to', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('net_cents', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('vat_cents', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('gross_cents', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('breakdown', sa.JSON(), nullable=True))
    with op.batch_alter_table('print_jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('quote_line_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_print_jobs_quote_line_id'), ['quote_line_id'],
                              unique=False)
        batch_op.create_foreign_key('fk_print_jobs_quote_line_id', 'quote_lines',
                                    ['quote_line_id'], ['id'])
    _backfill()
    for table in ('quotes', 'orders'):  # the defaults are the models' from now on
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column('express', server_default=None)
    with op.batch_alter_table('quotes', schema=None) as batch_op:
        batch_op.alter_column('delivery', server_default=None)


def _backfill():
    """Every existing quote becomes a quote of one line (its part lines from its breakdown),
    every existing job belongs to its order's line, every order keeps its quote's price."""
    bind = op.get_bind()
    meta = sa.MetaData()
    quotes = sa.Table('quotes', meta, autoload_with=bind)
    lines = sa.Table('quote_lines', meta, autoload_with=bind)
    orders = sa.Table('orders', meta, autoload_with=bind)
    jobs = sa.Table('print_jobs', meta, autoload_with=bind)
    for q in bind.execute(sa.select(quotes)).mappings().all():
        part_lines = [line for line in (q['breakdown'] or {}).get('lines', [])
                      if line.get('code') in PART_CODES]
        line_id = bind.execute(lines.insert().values(
            quote_id=q['id'], position=1, part_id=q['part_id'], material_code=q['material_code'],
            colour=q['colour'], quantity=q['quantity'], infill_percent=q['infill_percent'],
            layer_height_mm=q['layer_height_mm'], units=q['units'], material_g=q['material_g'],
            print_time_s=q['print_time_s'],
            net_cents=sum(int(line.get('amount_cents', 0)) for line in part_lines),
            breakdown={'lines': part_lines}, bbox_mm=None,
        ).returning(lines.c.id)).scalar_one()
        for o in bind.execute(sa.select(orders.c.id).where(orders.c.quote_id == q['id'])).all():
            bind.execute(jobs.update().where(jobs.c.order_id == o.id)
                         .values(quote_line_id=line_id))
            bind.execute(orders.update().where(orders.c.id == o.id).values(
                net_cents=q['net_cents'], vat_cents=q['vat_cents'],
                gross_cents=q['gross_cents'], breakdown=q['breakdown']))


def downgrade():
    with op.batch_alter_table('print_jobs', schema=None) as batch_op:
        batch_op.drop_constraint('fk_print_jobs_quote_line_id', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_print_jobs_quote_line_id'))
        batch_op.drop_column('quote_line_id')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_column('breakdown')
        batch_op.drop_column('gross_cents')
        batch_op.drop_column('vat_cents')
        batch_op.drop_column('net_cents')
        batch_op.drop_column('ship_to')
        batch_op.drop_column('express')
    with op.batch_alter_table('quotes', schema=None) as batch_op:
        batch_op.drop_column('terms')
        batch_op.drop_column('ship_to')
        batch_op.drop_column('express')
        batch_op.drop_column('delivery')
    with op.batch_alter_table('cart_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cart_items_user_id'))
    op.drop_table('cart_items')
    with op.batch_alter_table('quote_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_quote_lines_quote_id'))
        batch_op.drop_index(batch_op.f('ix_quote_lines_part_id'))
    op.drop_table('quote_lines')
