"""printer classes: the class an estimate was made for (in its key), the class a quote line
was priced for and a print job is sliced for

Revision ID: 9e4b2c7a1f30
Revises: 7d2e4f6a8b10
Create Date: 2026-11-30 18:40:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '9e4b2c7a1f30'
down_revision = '7d2e4f6a8b10'
branch_labels = None
depends_on = None

OLD_KEY = ['part_id', 'units', 'layer_height_um', 'infill_percent']
# SQLite's copy of the table names the old key's unnamed constraint by this convention
NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _key_name(columns):
    """The name of the unique constraint over ``columns`` (PostgreSQL names the unnamed one
    itself; SQLite's has none: then the batch convention's name)."""
    for uc in sa.inspect(op.get_bind()).get_unique_constraints('part_estimates'):
        if list(uc['column_names']) == list(columns):
            return uc['name'] or 'uq_part_estimates_part_id'
    return 'uq_part_estimates_part_id'


def upgrade():
    old = _key_name(OLD_KEY)
    with op.batch_alter_table('part_estimates', schema=None,
                              naming_convention=NAMING) as batch_op:
        # existing estimates were made with the standard class's profile
        batch_op.add_column(sa.Column('printer_class', sa.String(length=32), nullable=False,
                                      server_default='standard'))
        batch_op.drop_constraint(old, type_='unique')
        batch_op.create_unique_constraint('uq_part_estimates_options',
                                          [*OLD_KEY, 'printer_class'])
    with op.batch_alter_table('quote_lines', schema=None) as batch_op:
        # existing lines: None, the hub's default class
        batch_op.add_column(sa.Column('printer_class', sa.String(length=32), nullable=True))
    with op.batch_alter_table('print_jobs', schema=None) as batch_op:
        # existing jobs: None, sliced with the most common profile, as they were
        batch_op.add_column(sa.Column('printer_class', sa.String(length=32), nullable=True))


def downgrade():
    with op.batch_alter_table('print_jobs', schema=None) as batch_op:
        batch_op.drop_column('printer_class')
    with op.batch_alter_table('quote_lines', schema=None) as batch_op:
        batch_op.drop_column('printer_class')
    # the old key holds one estimate per options: only the standard class's stay
    op.execute("DELETE FROM part_estimates WHERE printer_class <> 'standard'")
    with op.batch_alter_table('part_estimates', schema=None) as batch_op:
        batch_op.drop_constraint('uq_part_estimates_options', type_='unique')
        batch_op.create_unique_constraint('uq_part_estimates_part_id', OLD_KEY)
        batch_op.drop_column('printer_class')
