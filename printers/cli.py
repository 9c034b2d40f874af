"""`flask --app marketplace printers ...` and `flask --app marketplace dispatcher ...`."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import with_appcontext

from marketplace.extensions import db
from marketplace.models import Printer


@click.group("printers")
def printers_cli() -> None:
    """Manage the hub's printers."""


def _parse_volume(value: str | None) -> dict[str, float]:
    if not value:
        return {}
    try:
        x, y, z = (float(v) for v in value.lower().split("x"))
    except ValueError as exc:
        raise click.BadParameter("use XxYxZ in mm, e.g. 250x210x210") from exc
    return {"build_x_mm": x, "build_y_mm": y, "build_z_mm": z}


@printers_cli.command("new-key")
def new_key_command() -> None:
    """Print a new key for PRINTER_KEY_SECRETS (put it first, then run rotate-keys)."""
    from marketplace import printer_keys

    click.echo(printer_keys.new_key())


@printers_cli.command("rotate-keys")
@with_appcontext
def rotate_keys_command() -> None:
    """Re-encrypt every printer's API key with the first key of PRINTER_KEY_SECRETS."""
    from marketplace import printer_keys
    from printers import admin as printer_admin

    from marketplace.webhooks import endpoints as webhook_endpoints

    try:
        count = printer_admin.rotate_api_keys()
        hooks = webhook_endpoints.reencrypt_secrets()  # the same cipher keeps webhook secrets
    except printer_keys.InvalidToken:
        db.session.rollback()
        raise click.ClickException(
            "a printer's key opens with none of the configured keys: keep the old key in "
            "PRINTER_KEY_SECRETS (after the new one) until rotate-keys has run") from None
    db.session.commit()
    click.echo(f"printer keys re-encrypted: {count}")
    click.echo(f"webhook secrets re-encrypted: {hooks}")


@printers_cli.command("add")
@click.argument("name")
@click.option("--url", required=True, help="OctoPrint address, e.g. http://127.0.0.1:5000")
@click.option("--api-key", required=True, help="OctoPrint API key (stored, never shown)")
@click.option("--profile", "slicer_profile", default=None, help="slicer profile name")
@click.option("--material", "material_code", default=None,
              help="material loaded: a catalogue code, e.g. PETG (default PLA)")
@click.option("--colour", default=None,
              help="colour loaded: one of the material's catalogue colours, e.g. Schwarz "
                   "(or black; default: the material's first)")
@click.option("--nozzle", "nozzle_mm", type=float, default=None, help="nozzle diameter in mm")
@click.option("--build-volume", default=None, help="XxYxZ in mm, e.g. 250x210x210")
@with_appcontext
def add_printer_command(name, url, api_key, slicer_profile, material_code, colour, nozzle_mm,
                        build_volume) -> None:
    """Add a printer NAME behind an OctoPrint server."""
    from printers import admin as printer_admin

    values = {"slicer_profile": slicer_profile, "material_code": material_code,
              "colour": colour, "nozzle_mm": nozzle_mm, **_parse_volume(build_volume)}
    try:
        printer = printer_admin.add_printer(name=name, url=url, api_key=api_key, actor="cli",
                                            **{k: v for k, v in values.items() if v is not None})
        db.session.commit()
    except printer_admin.PrinterValidationError as exc:
        db.session.rollback()
        for field, message in exc.texts().items():
            click.echo(f"{field}: {message}", err=True)
        raise SystemExit(2) from None
    click.echo(f"printer {printer.name} added ({printer.public_id})")


@printers_cli.command("load")
@click.argument("name")
@click.option("--material", "material_code", default=None,
              help="material now loaded: a catalogue code, e.g. PETG (default: unchanged)")
@click.option("--colour", required=True,
              help="colour now loaded: one of the material's catalogue colours, e.g. Schwarz")
@with_appcontext
def load_command(name, material_code, colour) -> None:
    """Record the spool now loaded on printer NAME (material and colour from the catalogue)."""
    from printers import admin as printer_admin

    printer = db.session.scalar(sa.select(Printer).where(Printer.name == name))
    if printer is None:
        click.echo(f"no printer named {name!r}", err=True)
        raise SystemExit(2)
    values = {"colour": colour, **({"material_code": material_code} if material_code else {})}
    try:
        printer_admin.update_printer(printer, values, actor="cli")
        db.session.commit()
    except printer_admin.PrinterValidationError as exc:
        db.session.rollback()
        for field, message in exc.texts().items():
            click.echo(f"{field}: {message}", err=True)
        raise SystemExit(2) from None
    click.echo(f"printer {printer.name}: {printer.material_code} {printer.colour} loaded")


@printers_cli.command("demo")
@click.argument("name")
@click.option("--basedir", required=True, type=click.Path(file_okay=False),
              help="the virtual printer's OctoPrint base directory (set up if new)")
@click.option("--port", required=True, type=click.IntRange(1, 65535),
              help="port its OctoPrint listens on (127.0.0.1)")
@click.option("--octoprint", "octoprint_bin", default=None,
              help="OctoPrint's command (default: OCTOPRINT_BIN or .venv-octoprint/bin/octoprint)")
@click.option("--colour", default="Schwarz", show_default=True,
              help="colour loaded (one of PLA's catalogue colours)")
@with_appcontext
def demo_printer_command(name, basedir, port, octoprint_bin, colour) -> None:
    """Set up a virtual OctoPrint printer (once) and register it as printer NAME.

    Idempotent: run again, it keeps the base directory and brings the printer's address and
    API key (read from the base directory) up to date. Refused with DRUCKHUB_ENV=production.
    """
    from printers import admin as printer_admin
    from printers import virtual

    if current_app.config.get("ENVIRONMENT") == "production":
        raise click.ClickException("demo printers are not added with DRUCKHUB_ENV=production")
    try:
        api_key = virtual.set_up(Path(basedir), port, octoprint_bin or virtual.OCTOPRINT_BIN)
    except (OSError, subprocess.SubprocessError) as exc:
        raise click.ClickException(f"OctoPrint could not be set up in {basedir}: {exc}") from exc
    values = {"url": f"http://127.0.0.1:{port}", "api_key": api_key, "material_code": "PLA",
              "colour": colour}
    printer = db.session.scalar(sa.select(Printer).where(Printer.name == name))
    try:
        if printer is None:
            printer = printer_admin.add_printer(name=name, actor="demo", **values)
            verb = "added"
        else:
            printer_admin.update_printer(printer, values, actor="demo")
            verb = "updated"
        db.session.commit()
    except printer_admin.PrinterValidationError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    click.echo(f"demo printer {name} {verb}: {values['url']}")


@printers_cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@with_appcontext
def list_printers_command(as_json: bool) -> None:
    """List printers with their state (API keys are never printed)."""
    from printers import admin as printer_admin

    printers = db.session.scalars(sa.select(Printer).order_by(Printer.name)).all()
    rows = [printer_admin.printer_summary(p) for p in printers]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        job = row["job"]["public_id"] if row["job"] else "-"
        colour = row["colour"] if row["colour_in_catalogue"] else f"{row['colour']}(?)"
        click.echo(f"{row['name']:<16} {row['state']:<12} {row['material_code']:<5} "
                   f"{colour:<10} {row['slicer_profile']:<18} {row['url']}  job {job}")
    if any(not row["colour_in_catalogue"] for row in rows):
        click.echo("(?) colour not in the material's catalogue: pick one in the console")


@click.group("dispatcher")
def dispatcher_cli() -> None:
    """Run the printer dispatcher."""


@dispatcher_cli.command("run")
@click.option("--once", is_flag=True, help="one pass, then exit")
@click.option("--interval", type=float, default=None, help="seconds between passes")
@with_appcontext
def run_dispatcher_command(once: bool, interval: float | None) -> None:
    """Poll printers, reconcile, slice, and dispatch jobs; loops until stopped."""
    from printers.dispatcher import Dispatcher, DispatcherBusyError

    stop = {"now": False}

    def _stop(*_):
        stop["now"] = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    dispatcher = Dispatcher(current_app.config)
    try:
        dispatcher.run(interval, once=once, should_stop=lambda: stop["now"])
    except DispatcherBusyError as exc:
        click.echo(f"dispatcher: {exc}", err=True)
        raise SystemExit(3) from None
    click.echo("dispatcher stopped")
