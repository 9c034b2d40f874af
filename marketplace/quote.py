"""Command line quote: ``python -m marketplace.quote FILE [--units mm|cm|m|inch] [--material PLA]
[--infill 15] [--layer-height 0.2] [--quantity 1] [--supports auto|none]
[--printer-class standard|large] [--json] [--lang de|en]``.

Exit 0: the analysis, estimate and price (one JSON object with ``--json``, else a readable
summary). A part that is not printable (a problem of severity "error": too large, no closed
solid, ...) gets ``"price": null``; its estimate is still given wherever the mesh allows one. Exit 2: the file cannot be analysed or an option is wrong: one line on stderr and, with
``--json``, ``{"error": {"code", "message"}}`` on stdout. Never a traceback, for any input.
The file is read and analysed in a child process limited to ``ANALYSIS_TIMEOUT_S`` seconds and
``ANALYSIS_MEMORY_MB`` of address space (config.py, environment), like every analysis of the
web app: a hostile file ends with exit 2 and a clear message, never by exhausting the machine.
``--printer-class`` quotes for that class's printer (its PrusaSlicer profile, build volume,
nozzle and machine rate; its layer height unless ``--layer-height`` is given); without it the
hub's default class and printers.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from marketplace.engine.meshio.units import USER_UNITS
from marketplace.engine.pricing.catalog import DEFAULT_PROFILE, PRINTER_CLASSES
from marketplace.engine.options import (
    DEFAULTS,
    INFILL_MAX,
    INFILL_MIN,
    LAYER_MAX_MM,
    LAYER_MIN_MM,
    QUANTITY_MAX,
)

EXIT_OK, EXIT_INPUT = 0, 2


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad options through our error channel instead of exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise _OptionProblem(message)


class _OptionProblem(Exception):
    pass


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the command."""
    p = _Parser(prog="python -m marketplace.quote",
                description="Analyse a 3D part (STL, 3MF, OBJ) and price it.")
    p.add_argument("file", help="STL, 3MF or OBJ file")
    p.add_argument("--units", choices=USER_UNITS, default=None,
                   help="units of the file (default: guessed from the size)")
    # numbers stay text here: the options schema (engine/options.py) checks them for every channel
    p.add_argument("--material", default=DEFAULTS["material"],
                   help="material code (PLA, PETG, ABS, TPU)")
    p.add_argument("--infill", default=DEFAULTS["infill"],
                   help=f"infill in percent ({INFILL_MIN}-{INFILL_MAX})")
    p.add_argument("--layer-height", default=None,
                   help=f"layer height in mm ({LAYER_MIN_MM}-{LAYER_MAX_MM}; default: the "
                        f"printer class's, {DEFAULTS['layer_height']} for the standard class)")
    p.add_argument("--quantity", default=DEFAULTS["quantity"],
                   help=f"number of pieces (1-{QUANTITY_MAX})")
    p.add_argument("--supports", choices=["auto", "none"], default="auto",
                   help="auto: supports where PrusaSlicer's automatic supports put them "
                        "(the estimate says whether there are any); none: no supports")
    p.add_argument("--printer-class", choices=list(PRINTER_CLASSES), default=None,
                   help="quote for this printer class (its slicer profile, build volume and "
                        "machine rate); default: the hub's default class")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--lang", choices=["de", "en"], default="de", help="language of the summary")
    return p


def _fail(code: str, message: str, as_json: bool) -> int:
    print(f"error: {message}", file=sys.stderr)
    if as_json:
        print(json.dumps({"error": {"code": code, "message": message}}, ensure_ascii=False))
    return EXIT_INPUT


def main(argv: list[str] | None = None) -> int:
    """Run the command; return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in argv
    try:
        args = build_parser().parse_args(argv)
    except _OptionProblem as exc:
        return _fail("bad_option", str(exc).replace("\n", " "), as_json)
    try:
        return _run(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader left (``| head``): no traceback, the shell's code
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except MemoryError:
        return _fail("out_of_memory", "Die Datei ist zu groß für die Analyse.", as_json)
    except Exception as exc:  # the promise: never a traceback, whatever the input
        from marketplace.engine.meshio.load import MeshInputError

        if isinstance(exc, MeshInputError):
            from marketplace import messages

            return _fail(exc.code, messages.render_message(exc.to_dict(), "de", prefix="error."),
                         as_json)
        detail = f"{type(exc).__name__}: {exc}".replace("\n", " ")[:300]
        return _fail("analysis_failed", f"Die Datei konnte nicht analysiert werden ({detail}).",
                     as_json)


def limits() -> tuple[float, int]:
    """Return (seconds, MB) an analysis may take (``ANALYSIS_TIMEOUT_S``, ``ANALYSIS_MEMORY_MB``)."""
    try:
        from config import Config
    except ImportError:  # run from outside the project: the defaults of config.py
        return 120.0, 4096
    return float(Config.ANALYSIS_TIMEOUT_S), int(Config.ANALYSIS_MEMORY_MB)


def _run(args: argparse.Namespace) -> int:
    path = Path(args.file)
    try:
        if path.is_dir():
            return _fail("not_a_file", f"{path} ist ein Verzeichnis, keine Datei.", args.json)
        with path.open("rb"):
            pass
    except FileNotFoundError:
        return _fail("file_not_found", f"Die Datei {path} gibt es nicht.", args.json)
    except OSError as exc:
        return _fail("file_unreadable", f"Die Datei {path} ist nicht lesbar ({exc.strerror}).",
                     args.json)
    from marketplace import messages
    from marketplace.engine import runner
    from marketplace.engine.options import load_options
    from marketplace.engine.pricing.catalog import DEFAULT_MATERIALS

    # bad options are refused here, before a child is started (the child checks them again)
    layer = args.layer_height
    if layer is None:
        layer = (PRINTER_CLASSES[args.printer_class] if args.printer_class
                 else DEFAULT_PROFILE).layer_height_mm
    load_options({"material": args.material, "infill": args.infill, "layer_height": layer,
                  "quantity": args.quantity, "supports": args.supports}, DEFAULT_MATERIALS)
    timeout_s, memory_mb = limits()
    job = {"kind": "quote", "path": str(path.resolve()), "filename": path.name,
           "units": args.units, "material": args.material, "infill": args.infill,
           "layer_height": args.layer_height, "quantity": args.quantity,
           "supports": args.supports, "printer_class": args.printer_class}
    # the file is read and analysed in a child with a time and an address-space limit, at
    # the caller's priority (the web app's analyses run below it; here the user waits)
    # (a forked copy of this process: it starts with the engine imported)
    from marketplace.engine import quote as _engine  # noqa: F401

    result = messages.with_texts(runner.run_forked(
        job, timeout_s=timeout_s, memory_mb=memory_mb)["quote"])
    if args.json:
        print(json.dumps(result, ensure_ascii=False, allow_nan=False))
    else:
        print(summary(result, args.lang))
    return EXIT_OK


def summary(r: dict[str, Any], lang: str = "de") -> str:
    """Return a readable multi-line summary of a quote_file result (with its texts)."""
    from marketplace import formatting, messages

    de = lang == "de"

    def num(value: float, places: int) -> str:
        return formatting.format_number(value, places, lang)

    m, f = r["mesh"], r["file"]
    lines = [
        f"{f['name']} ({f['format'].upper()}, {num(f['bytes'] / 1024, 1)} KB)",
        (f"  Dreiecke: {m['triangles']}  Körper: {m['shells']}  geschlossen: "
         f"{'ja' if m['watertight'] else 'nein'}  Einheit: {m['units']} ({m['units_source']})")
        if de else
        (f"  Triangles: {m['triangles']}  bodies: {m['shells']}  watertight: "
         f"{'yes' if m['watertight'] else 'no'}  units: {m['units']} ({m['units_source']})"),
        f"  {'Größe' if de else 'Size'}: {formatting.format_size(m['bbox_mm'], 1, lang)}"
        + f"   {'Volumen' if de else 'Volume'}: {formatting.format_volume(r, lang)}"
        + f"   {'Oberfläche' if de else 'Area'}: {num(m['area_mm2'] / 100, 1)} cm²",
        f"  {'Druckbar' if de else 'Printable'}: "
        + (("ja" if de else "yes") if r["printable"] else ("NEIN" if de else "NO")),
    ]
    for p in r["problems"]:
        lines.append(f"  [{p['severity']}] {p['message'] if de else p['message_en']}")
    o = r.get("orientation") or {}
    if o.get("message"):
        lines.append(f"  {'Lage' if de else 'Orientation'}: "
                     + (o["message"] if de else o.get("message_en", o["message"])))
    e, price = r.get("estimate"), r.get("price")
    if e:
        lines.append(f"  Material: {formatting.format_grams(e['material_g'], 1, lang)}   "
                     f"{'Druckzeit' if de else 'Print time'}: "
                     f"{formatting.format_duration(e['print_time_s'], lang)}   "
                     f"{'Schichten' if de else 'Layers'}: {e['layers']}")
        if e.get("supports"):
            lines.append(f"  {'Stützen' if de else 'Supports'}: "
                         f"{formatting.format_grams(e['support_g'], 1, lang)}, "
                         f"{formatting.format_duration(e['support_time_s'], lang)} "
                         + ("(in Material und Druckzeit enthalten)" if de
                            else "(included in material and print time)"))
        else:
            lines.append("  Stützen: keine" if de else "  Supports: none")
    if not price:
        lines.append("  Kein Preis: Das Teil ist so nicht druckbar." if de
                     else "  No price: the part cannot be printed as it is.")
    else:
        money = lambda cents: formatting.format_money(cents, lang)  # noqa: E731
        for line in price["lines"]:
            label, _detail = messages.line_texts(line, lang)
            lines.append(f"    {label:<32} {money(line['amount_cents']):>12}")
        lines.append(f"  {'Netto' if de else 'Net'} {money(price['net_cents'])}  "
                     f"{'MwSt.' if de else 'VAT'} {money(price['vat_cents'])}  "
                     f"{'Brutto' if de else 'Gross'} {money(price['gross_cents'])}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
