"""`flask --app marketplace parts add|show`: store a part for a firm (a worker analyses it), look.

    flask --app marketplace parts add bracket.stl --firm "Muster GmbH" --units mm --json
    flask --app marketplace parts show 3f2a... --json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import sqlalchemy as sa
from flask.cli import with_appcontext

from marketplace.extensions import db
from marketplace.models import Firm, Part
from marketplace.engine.meshio.units import USER_UNITS
from marketplace.parts import operations as parts


@click.group("parts")
def parts_cli() -> None:
    """Uploaded parts and their analysis."""


def _fail(message: str, code: int = 2) -> None:
    db.session.rollback()
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def find_firm(name: str, *, create: bool) -> Firm | None:
    """Return the firm called ``name`` (spaces normalised), created if asked and missing."""
    name = " ".join(name.split())
    firm = db.session.scalar(sa.select(Firm).where(Firm.name == name))
    if firm is None and create and name:
        firm = Firm(name=name[:200])
        db.session.add(firm)
        db.session.flush()
    return firm


@parts_cli.command("add")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--firm", "firm_name", required=True, help="Firm name (created if new).")
@click.option("--units", type=click.Choice(USER_UNITS), default=None,
              help="Units of the file (default: guessed from its size).")
@click.option("--json", "as_json", is_flag=True, help='Print {"id", "status"}.')
@with_appcontext
def add_command(file: Path, firm_name: str, units: str | None, as_json: bool) -> None:
    """Store FILE as a part of a firm and queue its analysis; print the part's id."""
    if not " ".join(firm_name.split()):
        _fail("--firm must not be empty")
    try:
        data = file.read_bytes()
    except OSError as exc:
        _fail(f"cannot read {file}: {exc.strerror or exc}")
    firm = find_firm(firm_name, create=True)
    try:
        part = parts.store_upload(firm, None, file.name, data)
    except parts.UploadError as exc:
        _fail(exc.message % exc.params if exc.params else exc.message)
    part.units = units
    db.session.commit()  # queues the analysis (a worker runs it)
    db.session.refresh(part)
    if as_json:
        click.echo(json.dumps({"id": part.public_id, "status": part.status}))
    else:
        click.echo(part.public_id)


def find_part(ident: str) -> Part | None:
    """Return the part with public id (or number) ``ident``."""
    ident = ident.strip()
    cond = Part.public_id == ident
    if ident.isdigit():
        cond = sa.or_(cond, Part.id == int(ident))
    return db.session.scalar(sa.select(Part).where(cond))


def part_dict(part: Part) -> dict:
    """Return the part, its analysis state and its main figures as JSON-safe data."""
    analysis = part.analysis or {}
    mesh = analysis.get("mesh") or {}
    return {
        "id": part.public_id, "status": part.status, "name": part.original_name,
        "firm": part.firm.name, "format": part.file_format, "size_bytes": part.size_bytes,
        "sha256": part.sha256, "units": part.units,
        "created_at": part.created_at.isoformat() + "Z",
        "attempts": part.attempts,
        "error": ({"code": part.error_code, "message": part.error_message}
                  if part.status == "error" else None),
        "mesh": {k: mesh[k] for k in ("triangles", "volume_mm3", "area_mm2", "bbox_mm",
                                      "watertight", "shells") if k in mesh} or None,
        "printable": analysis.get("printable") if part.status == "ready" else None,
        "problems": [p.get("code") for p in analysis.get("problems") or []],
    }


@parts_cli.command("show")
@click.argument("ident")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_appcontext
def show_command(ident: str, as_json: bool) -> None:
    """Show part IDENT: status (pending, ready, error), figures, problems."""
    part = find_part(ident)
    if part is None:
        _fail(f"no part {ident!r}", 1)
    data = part_dict(part)
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    click.echo(f"{data['id']}  {data['firm']}  {data['name']}  {data['status']}")
    if data["error"]:
        click.echo(f"  {data['error']['code']}: {data['error']['message']}")
    if data["mesh"]:
        click.echo("  " + ", ".join(f"{k}: {v}" for k, v in data["mesh"].items()))
    for code in data["problems"]:
        click.echo(f"  problem: {code}")
