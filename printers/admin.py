"""Add and edit printers, maintenance and bed-clear confirmation (console and CLI use these).

Validation errors raise ``PrinterValidationError`` with a message per field. The API key is
stored for the dispatcher only: ``printer_summary`` (what a page or ``printers list`` shows)
never contains it. The caller commits.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

import sqlalchemy as sa
from flask import current_app

from marketplace import audit
from marketplace.engine.pricing.catalog import MaterialSpec, catalogue_colour
from marketplace.extensions import db
from marketplace.i18n import N_
from marketplace.jobs import ON_PRINTER_STATES, state_values
from marketplace.models import Printer, PrintJob
from marketplace.printer_states import set_printer_state
from marketplace.settings import operations as hub_settings
from printers import slicing

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$")
EDITABLE = ("name", "url", "api_key", "printer_class", "build_x_mm", "build_y_mm", "build_z_mm",
            "nozzle_mm", "material_code", "colour", "slicer_profile")
NOZZLES_MM = (0.25, 0.4, 0.6, 0.8)


class PrinterValidationError(Exception):
    """``errors`` maps field names to messages: German source strings (translated where
    shown) whose ``%(name)s`` placeholders are filled from ``params[field]``."""

    def __init__(self, errors: dict[str, str],
                 params: dict[str, dict[str, Any]] | None = None) -> None:
        self.errors, self.params = errors, params or {}
        super().__init__("; ".join(f"{k}: {v}" for k, v in self.texts().items()))

    def texts(self, translate=lambda text: text) -> dict[str, str]:
        """The messages with their placeholders filled, each through ``translate`` first."""
        return {k: translate(v) % self.params[k] if k in self.params else translate(v)
                for k, v in self.errors.items()}


def catalogue() -> dict[str, MaterialSpec]:
    """Return the materials a printer may load, by code, with their catalogue colours."""
    return hub_settings.get_materials(include_inactive=True)


def validate(values: Mapping[str, Any], *, printer: Printer | None = None) -> dict[str, Any]:
    """Return cleaned values or raise PrinterValidationError."""
    errors: dict[str, str] = {}
    params: dict[str, dict[str, Any]] = {}
    clean: dict[str, Any] = {}
    for key, value in values.items():
        if key not in EDITABLE or value is None:
            continue
        clean[key] = value.strip() if isinstance(value, str) else value
    if "name" in clean:
        if not NAME.match(clean["name"] or ""):
            errors["name"] = N_("1–64 Zeichen: Buchstaben, Ziffern, Leerzeichen, . _ -")
        else:
            other = db.session.scalar(sa.select(Printer).where(Printer.name == clean["name"]))
            if other is not None and other is not printer:
                errors["name"] = N_("Ein Drucker mit diesem Namen existiert bereits.")
    if "url" in clean:
        url = urlparse(clean["url"] or "")
        if url.scheme not in ("http", "https") or not url.netloc or url.path not in ("", "/"):
            errors["url"] = N_("Die OctoPrint-Adresse muss http(s)://host[:port] sein.")
        else:
            clean["url"] = f"{url.scheme}://{url.netloc}"
    if "api_key" in clean:
        key = clean["api_key"] or ""
        if not re.fullmatch(r"[A-Za-z0-9_-]{16,128}", key):
            errors["api_key"] = N_(
                "Der API-Schlüssel muss 16–128 Zeichen (A–Z, 0–9, _ -) haben.")
    for axis in ("build_x_mm", "build_y_mm", "build_z_mm"):
        if axis in clean:
            try:
                clean[axis] = float(clean[axis])
                if not 10 <= clean[axis] <= 2000:
                    raise ValueError
            except (TypeError, ValueError):
                errors[axis] = N_("Bauraum in mm zwischen 10 und 2000.")
    if "nozzle_mm" in clean:
        try:
            clean["nozzle_mm"] = float(clean["nozzle_mm"])
            if clean["nozzle_mm"] not in NOZZLES_MM:
                raise ValueError
        except (TypeError, ValueError):
            errors["nozzle_mm"] = N_("Düse: %(sizes)s mm.")
            params["nozzle_mm"] = {"sizes": ", ".join(f"{n:g}" for n in NOZZLES_MM)}
    _validate_loaded(clean, printer, errors, params)
    if "slicer_profile" in clean:
        profiles = slicing.available_profiles(current_app.config["SLICER_PROFILE_DIR"])
        if clean["slicer_profile"] not in profiles:
            errors["slicer_profile"] = N_("Unbekanntes Profil (%(profiles)s).")
            params["slicer_profile"] = {"profiles": ", ".join(profiles)}
    if errors:
        raise PrinterValidationError(errors, params)
    return clean


def _validate_loaded(clean: dict[str, Any], printer: Printer | None, errors: dict[str, str],
                     params: dict[str, dict[str, Any]]) -> None:
    """Material and colour loaded: catalogue entries (a colour is one of the material's
    catalogue colours, typed as listed or as a synonym such as "black" for "Schwarz")."""
    if "material_code" not in clean and "colour" not in clean:
        return
    materials = catalogue()
    if "material_code" in clean:
        clean["material_code"] = (clean["material_code"] or "").strip().upper()
        if clean["material_code"] not in materials:
            errors["material_code"] = N_("Unbekanntes Material (%(codes)s).")
            params["material_code"] = {"codes": ", ".join(sorted(materials))}
            return
    code = clean.get("material_code") or (printer.material_code if printer else None)
    spec = materials.get(code or "")
    if spec is None:
        return
    text = clean["colour"] if "colour" in clean else (printer.colour if printer else None)
    if text is None:  # a new printer without a colour: the material's first catalogue colour
        if spec.colours:
            clean["colour"] = spec.colours[0]
        return
    entry = catalogue_colour(spec.colours, text)
    if entry is None:
        errors["colour"] = N_("Die Farbe „%(colour)s“ gibt es für %(material)s im Katalog "
                              "nicht (%(colours)s).")
        params["colour"] = {"colour": text, "material": code,
                            "colours": ", ".join(spec.colours)}
    else:
        clean["colour"] = entry


def colour_in_catalogue(printer: Printer, materials: dict[str, MaterialSpec] | None = None
                        ) -> bool:
    """Return whether the printer's colour is an entry of its material's catalogue colours
    (False for a colour from before the catalogue that nobody has picked anew yet)."""
    spec = (materials if materials is not None else catalogue()).get(printer.material_code)
    return spec is not None and printer.colour in spec.colours


def add_printer(*, name: str, url: str, api_key: str, actor: str = "system",
                **values: Any) -> Printer:
    """Create a printer (state unknown until the dispatcher has polled it)."""
    values = {"name": name, "url": url, "api_key": api_key, **values}
    missing = {k: N_("Pflichtfeld.") for k in ("name", "url", "api_key") if not values.get(k)}
    if missing:
        raise PrinterValidationError(missing)
    clean = validate(values)
    printer = Printer(**clean)
    printer.state = "unknown"
    db.session.add(printer)
    db.session.flush()
    audit.record("printer_key_changed", actor=_actor(actor), target=printer.name,
                 detail={"printer": printer.public_id, "new_printer": True})
    return printer


def update_printer(printer: Printer, values: Mapping[str, Any], *,
                   actor: str = "system") -> Printer:
    """Change a printer's settings; an empty API key keeps the stored one."""
    values = dict(values)
    if not values.get("api_key"):
        values.pop("api_key", None)
    clean = validate(values, printer=printer)
    for key, value in clean.items():
        setattr(printer, key, value)
    if "api_key" in clean:
        audit.record("printer_key_changed", actor=_actor(actor), target=printer.name,
                     detail={"printer": printer.public_id})
    db.session.flush()
    return printer


def rotate_api_keys() -> int:
    """Re-encrypt every printer's API key with the newest configured key; return how many."""
    from marketplace import printer_keys

    printers = db.session.scalars(sa.select(Printer).order_by(Printer.id)).all()
    for printer in printers:
        printer.api_key_encrypted = printer_keys.rotate(printer.api_key_encrypted)
    audit.record("printer_keys_rotated", actor="cli", detail={"printers": len(printers)})
    db.session.flush()
    return len(printers)


def _actor(actor: Any) -> str:
    return getattr(actor, "email", None) or str(actor)


def set_maintenance(printer: Printer, on: bool, actor: Any, reason: str | None = None) -> None:
    """Take a printer out of service (or back in; its state is then re-read by the dispatcher)."""
    if on:
        set_printer_state(printer, "maintenance", actor=_actor(actor),
                          reason=reason or "maintenance")
    elif printer.state == "maintenance":
        set_printer_state(printer, "unknown", actor=_actor(actor),
                          reason=reason or "back from maintenance")
    db.session.flush()


class BedNotWaitingError(Exception):
    """The printer's bed is not waiting to be cleared."""


def confirm_bed_clear(printer: Printer, actor: Any) -> None:
    """A technician took the finished part off: the printer may take the next job."""
    if printer.state != "bed_to_clear":
        raise BedNotWaitingError(N_("Das Druckbett dieses Druckers wartet nicht auf Räumung."))
    last = printer.last_status or {}
    ready = last.get("state_text") == "Operational"
    set_printer_state(printer, "available" if ready else "unknown", actor=_actor(actor),
                      reason="bed cleared")
    db.session.flush()


def printer_summary(printer: Printer) -> dict[str, Any]:
    """What the console and ``printers list`` show: everything but the API key."""
    job = db.session.scalar(sa.select(PrintJob).where(
        PrintJob.printer_id == printer.id,
        PrintJob.state.in_(state_values(ON_PRINTER_STATES))))
    status = printer.last_status or {}
    return {
        "public_id": printer.public_id, "name": printer.name, "url": printer.url,
        "state": printer.state, "state_reason": printer.state_reason,
        "material_code": printer.material_code, "colour": printer.colour,
        "colour_in_catalogue": colour_in_catalogue(printer),
        "nozzle_mm": printer.nozzle_mm, "slicer_profile": printer.slicer_profile,
        "build_mm": [printer.build_x_mm, printer.build_y_mm, printer.build_z_mm],
        "temperatures": status.get("temperatures") or {},
        "printer_text": status.get("state_text"),
        "progress": status.get("completion"),
        "file": status.get("job_file"),
        "last_seen_at": printer.last_seen_at.isoformat() if printer.last_seen_at else None,
        "job": ({"public_id": job.public_id, "state": job.state,
                 "progress_percent": job.progress_percent} if job else None),
    }
