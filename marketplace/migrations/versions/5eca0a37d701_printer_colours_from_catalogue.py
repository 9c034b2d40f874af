"""printer colours from the catalogue: free-text colours become the catalogue's entries

Each printer's colour is looked up among its material's catalogue colours (the hub's material
rows over the built-in defaults): the entry itself in any case or a synonym ("black" ->
"Schwarz", "white" -> "Weiß"; marketplace.engine.pricing.catalog.catalogue_colour). A colour
that names no entry is left as it is: the printers page marks it for a technician to pick, and
no job that wants a colour matches it until then. Data only; the downgrade keeps the entries.

Revision ID: 5eca0a37d701
Revises: ad0e8c929300
Create Date: 2026-11-30 15:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '5eca0a37d701'
down_revision = 'ad0e8c929300'
branch_labels = None
depends_on = None

printers = sa.table('printers', sa.column('id', sa.Integer), sa.column('material_code', sa.String),
                    sa.column('colour', sa.String))
materials = sa.table('materials', sa.column('code', sa.String), sa.column('colours', sa.JSON))


def upgrade():
    from marketplace.engine.pricing.catalog import DEFAULT_MATERIALS, catalogue_colour

    conn = op.get_bind()
    colours = {code: tuple(spec.colours) for code, spec in DEFAULT_MATERIALS.items()}
    for code, listed in conn.execute(sa.select(materials.c.code, materials.c.colours)):
        colours[code] = tuple(listed or ())
    rows = conn.execute(sa.select(printers.c.id, printers.c.material_code,
                                  printers.c.colour)).all()
    for printer_id, code, colour in rows:
        entry = catalogue_colour(colours.get((code or "").upper(), ()), colour)
        if entry is not None and entry != colour:
            conn.execute(printers.update().where(printers.c.id == printer_id)
                         .values(colour=entry))


def downgrade():
    pass  # the catalogue's entries are valid free text as well
