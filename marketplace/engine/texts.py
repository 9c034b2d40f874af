"""What the engine says, as stable codes with parameters; the words are rendered when shown.

The engine never formats a sentence for a person: a problem, a price line or an input error
carries a ``code`` and ``params`` (JSON-safe), and :mod:`marketplace.messages` renders them in
the reader's language (pages, PDFs, mails, the command line) from the gettext catalogues.
``TEXTS`` holds each code's German source string (the catalogue's msgid), marked with ``N_``
for ``pybabel extract``.

A parameter is a plain value (an int or a float is formatted as a number, a str is shown as
it is) or one of these one-key records, made by the helpers below:

- ``{"num": 0.4, "places": 2}``    a number with fixed decimals
- ``{"money": 4000}``             euro cents
- ``{"percent": 5}``              a percentage ("5 %")
- ``{"duration": 150}``           seconds ("3 min")
- ``{"size_mm": [20, 20, 5]}``    a box in mm ("20,0 × 20,0 × 5,0 mm")
- ``{"msg": CODE, "params": {}}``  another message (a unit's name, one reason in a list)
- ``{"list": [...]}``             parameters joined as words ("a, b und c")
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


def N_(text: str) -> str:
    """Mark a German source string for the catalogue; it is translated when shown."""
    return text


@dataclass(frozen=True)
class Message:
    """Something the engine says: a code of :data:`TEXTS` and its parameters (JSON-safe)."""

    code: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"code", "params"}``."""
        return {"code": self.code, "params": dict(self.params)}


def num(value: float, places: int = 1) -> dict[str, Any]:
    """A number shown with ``places`` decimals."""
    return {"num": round(float(value), places + 3), "places": places}


GRAMS_PLACES = 2  # a mass in figures (JSON, records shown to people): to 0.01 g


def grams(value: float) -> dict[str, Any]:
    """A mass in grams as the figures give it (:data:`GRAMS_PLACES`), shown with one decimal:
    a price line then reads like the summary beside it (34.2451 g is 34.25 g, shown 34,3 g
    in both, not 34,2 g in one of them)."""
    return num(round(float(value), GRAMS_PLACES), 1)


def money(cents: int) -> dict[str, int]:
    """An amount in euro cents."""
    return {"money": int(cents)}


def percent(value: float) -> dict[str, float]:
    """A percentage (5 means 5 %)."""
    return {"percent": value}


def duration(seconds: float) -> dict[str, float]:
    """A duration in seconds."""
    return {"duration": round(float(seconds), 3)}


def size_mm(dims: Any) -> dict[str, list[float]]:
    """A box (x, y, z) in millimetres."""
    return {"size_mm": [round(float(v), 3) for v in dims]}


def msg(code: str, **params: Any) -> dict[str, Any]:
    """Another message as a parameter."""
    return {"msg": code, "params": params}


def listing(items: list[Any]) -> dict[str, list[Any]]:
    """Parameters joined as a list of words."""
    return {"list": list(items)}


TEXTS: dict[str, str] = {
    # price lines (marketplace.engine.pricing.price): label and detail of each line code
    "line.material": N_("Material"),
    "line.material.detail": N_("%(material)s: %(quantity)s × %(grams)s g × %(price_per_kg)s/kg"),
    "line.machine": N_("Maschinenzeit"),
    "line.machine.detail": N_("%(quantity)s × %(time)s × %(rate)s/h, %(printer_class)s"),
    # printer classes in a price line (a hub's own class name is shown as it is)
    "class.standard": N_("Standarddrucker"),
    "class.large": N_("Großformatdrucker"),
    "line.setup": N_("Einrichtungspauschale"),
    "line.setup.detail": N_("einmal je Auftrag"),
    "line.discount": N_("Mengenrabatt"),
    "line.discount.detail": N_("%(percent)s ab %(quantity)s Stück"),
    "line.minimum": N_("Mindestbestellwert-Zuschlag"),
    "line.minimum.detail": N_("Mindestbestellwert %(minimum)s"),
    "line.express": N_("Express-Zuschlag"),
    "line.express.detail": N_("%(percent)s der Ware, mindestens %(minimum)s; Druck vorrangig"),
    "line.shipping": N_("Versand"),
    "line.shipping.detail": N_("%(count)s × Paket %(parcel)s, %(weight)s kg"),
    # printability problems (marketplace.engine.analysis.findings): "problem." + code
    "problem.not_watertight": N_(
        "Das Modell ist nicht geschlossen: %(edges)s offene Kanten (Löcher in der Oberfläche). "
        "Kleine Löcher schließen wir beim Drucken; das Ergebnis kann abweichen."),
    "problem.not_closable": N_(
        "Das Modell ist kein geschlossener Körper und lässt sich nicht durch kleine Reparaturen "
        "schließen: %(edges)s offene Kanten (%(edge_share)s aller Kanten), die Löcher machen "
        "etwa %(hole_share)s der Oberfläche aus, %(pieces)s offene Flächenstücke. So kann es "
        "nicht gedruckt werden; bitte exportieren Sie es als geschlossenen Volumenkörper."),
    "problem.non_manifold_edges": N_(
        "%(edges)s Kanten gehören zu mehr als zwei Flächen (Teile berühren sich nur an einer "
        "Kante, oder innere Wände). Das kann beim Drucken Fehler geben."),
    "problem.winding_unfixable": N_(
        "Die Flächen des Modells zeigen teils nach innen, teils nach außen, und das ließ sich "
        "nicht eindeutig korrigieren. Bitte prüfen Sie das Modell."),
    "problem.winding_fixed": N_(
        "%(faces)s Dreiecke zeigten in die falsche Richtung; wir haben sie umgedreht."),
    "problem.inverted_normals_fixed": N_(
        "Das Modell war „von innen nach außen“ gespeichert (Flächen zeigten nach innen); wir "
        "haben es umgedreht. Volumen und Preis stimmen."),
    "problem.degenerate_faces_removed": N_("%(faces)s Dreiecke ohne Fläche wurden entfernt."),
    "problem.duplicate_faces_removed": N_(
        "%(faces)s doppelte Dreiecke wurden entfernt (sie hätten das Volumen verfälscht)."),
    "problem.multiple_shells": N_(
        "Die Datei enthält %(bodies)s getrennte Körper. Sie werden zusammen gedruckt und "
        "zusammen berechnet."),
    "problem.closed_cavities": N_(
        "Das Modell hat %(cavities)s geschlossene Hohlräume im Inneren. Sie werden hohl "
        "gedruckt."),
    "problem.units_guessed": N_(
        "Die Datei scheint in %(unit)s gezeichnet zu sein; wir haben sie umgerechnet (Größe "
        "jetzt %(size)s). Stimmt das nicht, wählen Sie die Einheit."),
    "problem.no_volume": N_(
        "Das Modell hat kein Volumen (es ist nur eine Fläche oder ganz offen) und kann so nicht "
        "gedruckt werden."),
    "problem.too_small": N_(
        "Das Teil ist mit %(size)s zu klein zum Drucken. Wir haben die Datei in %(unit)s "
        "gelesen; stimmt das nicht, wählen Sie die Einheit."),
    "problem.very_small": N_(
        "Das Teil ist sehr klein (%(size)s); feine Details gehen verloren."),
    "problem.too_large": N_(
        "Das Teil (%(size)s) passt in keiner Lage auf einen unserer Drucker (größter Bauraum "
        "%(largest)s). Wir haben die Datei in %(unit)s gelesen; stimmt das nicht, wählen Sie "
        "die Einheit."),
    "problem.thin_walls": N_(
        "Manche Wände sind dünner als die Düse (%(nozzle)s mm) drucken kann (dünnste gemessen: "
        "%(thinnest)s mm, etwa %(share)s der Oberfläche). Sie fehlen im Druck oder brechen "
        "leicht."),
    "problem.needs_supports": N_(
        "Überhänge steiler als 45° brauchen Stützmaterial: etwa %(area)s cm² (in der "
        "vorgeschlagenen Lage). Stützen kosten Material und hinterlassen raue Stellen."),
    # (the wording of warnings stored before 2026-12: their base is a number of mm)
    "problem.topple_risk": N_(
        "In der empfohlenen Lage ist das Teil %(height)s mm hoch und steht auf einer schmalen "
        "Fläche (%(base)s mm). Es kann beim Drucken umkippen; unsere Technik prüft vor dem "
        "Druck, ob es einen Rand (Brim) braucht."),
    # the topple warning's wording now (Problem.text): its base says what the part stands on
    "problem.topple_risk_on": N_(
        "In der empfohlenen Lage ist das Teil %(height)s mm hoch und steht auf %(base)s. Es kann "
        "beim Drucken umkippen; unsere Technik prüft vor dem Druck, ob es einen Rand (Brim) "
        "braucht."),
    "topple.narrow": N_("einer nur %(width)s mm breiten Fläche"),
    "topple.edge": N_("einer Kante oder Spitze"),
    # units of a file, as words in a sentence ("in %(unit)s gelesen": German dative plural)
    "unit.mm": N_("Millimetern"),
    "unit.cm": N_("Zentimetern"),
    "unit.m": N_("Metern"),
    "unit.inch": N_("Zoll (inch)"),
    # the suggested orientation: one sentence each (findings.orientation_dict)
    "orientation.best": N_("Die hochgeladene Lage ist schon die günstigste."),
    "orientation.only_fits": N_("Nur so hingelegt passt das Teil auf einen Drucker."),
    "orientation.fits_none": N_("In keiner Lage passt das Teil auf einen unserer Drucker."),
    "orientation.saves": N_("Anders hingelegt braucht das Teil %(savings)s."),
    "orientation.more_layers": N_("Dafür braucht es %(layers)s Schichten mehr."),
    "saving.support_area": N_("%(area)s cm² weniger Stützfläche"),
    "saving.layers": N_("%(layers)s Schichten weniger"),
    "saving.time": N_("etwa %(minutes)s min weniger Druckzeit"),  # records made before 2026-12
    "saving.duration": N_("etwa %(time)s weniger Druckzeit"),
    # files that cannot be analysed (MeshInputError): "error." + code, unless it names a text
    "error.too_many_triangles": N_(
        "Das Modell hat %(count)s Dreiecke; erlaubt sind höchstens %(limit)s. Bitte exportieren "
        "Sie es gröber."),
    "words.more_than": N_("mehr als %(limit)s"),
    "error.unsupported_format": N_(
        "Dateityp nicht erkannt. Bitte laden Sie eine STL-, 3MF- oder OBJ-Datei hoch."),
    "error.empty_file": N_("Die Datei ist leer."),
    "error.no_triangles": N_("Die Datei enthält keine Dreiecke (kein 3D-Körper)."),
    "error.no_valid_triangles": N_("Die Datei enthält keine gültigen Dreiecke."),
    "error.non_finite_coordinates": N_(
        "%(count)s Dreiecke haben ungültige Koordinaten (NaN oder unendlich). Bitte exportieren "
        "Sie die Datei neu."),
    "error.coordinates_out_of_range": N_(
        "Die Koordinaten sind unrealistisch groß (über 10⁹). Bitte prüfen Sie den Export."),
    "error.stl_truncated": N_(
        "Die STL-Datei ist zu kurz, um ein Modell zu enthalten (beschädigt oder abgeschnitten)."),
    "error.stl_size_mismatch": N_(
        "Die STL-Datei ist beschädigt: laut Kopf enthält sie %(count)s Dreiecke, dafür müsste "
        "sie %(needed)s Byte groß sein, sie hat aber %(size)s Byte."),
    "error.stl_ascii_malformed": N_(
        "Die Text-STL-Datei ist fehlerhaft: nicht jedes Dreieck hat genau drei gültige "
        "Eckpunkte. Bitte exportieren Sie die Datei neu."),
    "error.obj_bad_index": N_(
        "Die OBJ-Datei ist fehlerhaft: Zeile %(line)s verweist auf Eckpunkt %(vertex)s, es gibt "
        "aber nur %(count)s Eckpunkte (gültig: 1 bis %(count)s)."),
    "error.obj_malformed": N_("Die OBJ-Datei ist fehlerhaft: %(reason)s%(where)s."),
    "obj.line": N_(" (Zeile %(line)s)"),
    "obj.vertex_short": N_("Eckpunkt mit weniger als drei Koordinaten"),
    "obj.face_short": N_("Fläche mit weniger als drei Ecken"),
    "obj.not_a_number": N_("Koordinate ist keine Zahl"),
    "obj.bad_reference": N_("Eckpunkt-Verweis %(reference)s ist keine Zahl"),
    "error.3mf": N_("Die 3MF-Datei ist fehlerhaft: %(reason)s"),
    "3mf.not_zip": N_("sie ist kein gültiges ZIP-Archiv."),
    "3mf.too_many_members": N_("sie enthält %(count)s Dateien (erlaubt: %(limit)s)."),
    "3mf.unsafe_path": N_("sie enthält einen unzulässigen Dateipfad."),
    "3mf.bad_xml": N_("das 3D-Modell ist kein gültiges XML."),
    "3mf.too_large": N_("entpackt wäre sie größer als %(mb)s MB."),
    "3mf.too_large_unpacked": N_("entpackt wäre sie zu groß."),
    "3mf.entities": N_("sie enthält XML-Entitäten, die wir aus Sicherheitsgründen nicht lesen."),
    "3mf.bad_member": N_("eine Datei im Archiv ist beschädigt."),
    "3mf.no_model": N_("das 3D-Modell fehlt im Archiv."),
    "3mf.transform_not_numbers": N_("eine Transformation ist keine Zahlenliste."),
    "3mf.transform_not_12": N_("eine Transformation hat nicht 12 Zahlen."),
    "3mf.too_many_vertices": N_("sie enthält unverhältnismäßig viele Eckpunkte."),
    "3mf.recursive": N_("Bauteile verweisen im Kreis aufeinander."),
    "3mf.bad_reference": N_("ein Verweis zeigt auf das fehlende Objekt %(object)s."),
    "3mf.bad_number": N_("Objekt %(object)s enthält eine ungültige Zahl."),
    "3mf.bad_index": N_(
        "ein Dreieck verweist auf Eckpunkt %(vertex)s, gültig sind 0 bis %(last)s."),
    "error.zip_ratio": N_(
        "Die 3MF-Datei würde entpackt %(ratio)s-mal so groß wie die Datei selbst (erlaubt: "
        "%(limit)s-mal). So stark lässt sich ein echtes Modell nicht packen; bitte exportieren "
        "Sie es neu."),
    # the analysis itself (marketplace.engine.runner)
    "error.too_large": N_("Die Datei ist zu groß für die Analyse."),
    "error.analysis_timeout": N_(
        "Die Analyse hat länger als %(seconds)s s gedauert und wurde abgebrochen."),
    "error.analysis_failed": N_("Die Analyse ist unerwartet fehlgeschlagen."),
    "error.analysis_internal": N_("Die Datei konnte nicht analysiert werden (interner Fehler)."),
    "error.file_unreadable": N_("Die Datei ist nicht lesbar (%(reason)s)."),
    "error.estimate_gave_up": N_("Die Berechnung wurde mehrfach abgebrochen."),
    "error.analysis_gave_up": N_(
        "Die Analyse wurde %(attempts)s-mal abgebrochen und wird nicht mehr versucht."),
    # a unit the engine does not know (marketplace.engine.quote.analyse_file); the other
    # options' sentences are in marketplace.engine.options.MESSAGES
    "error.bad_units": N_("Unbekannte Einheit %(unit)s: erlaubt sind %(known)s."),
}
