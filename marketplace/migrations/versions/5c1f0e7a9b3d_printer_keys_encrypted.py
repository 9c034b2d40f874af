"""printer API keys encrypted at rest: api_key (plain) becomes api_key_encrypted (Fernet)

Existing keys are encrypted with the configured key (marketplace.printer_keys); the downgrade
decrypts them back.

Revision ID: 5c1f0e7a9b3d
Revises: b9ba9d88adab
Create Date: 2026-11-30 12:20:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '5c1f0e7a9b3d'
down_revision = 'b9ba9d88adab'
branch_labels = None
depends_on = None

printers = sa.table('printers', sa.column('id', sa.Integer), sa.column('api_key', sa.String),
                    sa.column('api_key_encrypted', sa.Text))


def _convert(source, target, convert):
    conn = op.get_bind()
    rows = conn.execute(sa.select(printers.c.id, printers.c[source])).all()
    for printer_id, value in rows:
        conn.execute(printers.update().where(printers.c.id == printer_id)
                     .values({target: convert(value)}))


def upgrade():
    from marketplace import printer_keys

    with op.batch_alter_table('printers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('api_key_encrypted', sa.Text(), nullable=True))
    _convert('api_key', 'api_key_encrypted', printer_keys.encrypt)
    with op.batch_alter_table('printers', schema=None) as batch_op:
        batch_op.alter_column('api_key_encrypted', existing_type=sa.Text(), nullable=False)
        batch_op.drop_column('api_key')


def downgrade():
    from marketplace import printer_keys

    with op.batch_alter_table('printers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('api_key', sa.String(length=255), nullable=True))
    _convert('api_key_encrypted', 'api_key', printer_keys.decrypt)
    with op.batch_alter_table('printers', schema=None) as batch_op:
        batch_op.alter_column('api_key', existing_type=sa.String(length=255), nullable=False)
        batch_op.drop_column('api_key_encrypted')
