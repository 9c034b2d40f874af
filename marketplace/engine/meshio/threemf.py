"""Read a 3MF package (zip + XML) safely into triangles.

Checks, in order: the zip opens; it has at most ``max_zip_members`` members; no member name is
absolute or climbs out with ".."; the declared uncompressed sizes stay within
``max_unzipped_bytes`` *before* anything is decompressed, and decompression is counted again
while streaming (a lying header cannot expand further); the XML has no DOCTYPE/ENTITY (no external
or recursive entities); every triangle index lies in 0..vertices-1 (negative ones are refused);
component references exist and do not recurse. Units come from the ``unit`` attribute.
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from xml.etree import ElementTree as ET

import numpy as np

from marketplace.engine.limits import AnalysisLimits
from marketplace.engine.meshio.base import MeshInputError, RawMesh, check_count

_UNITS = {"micron": "micron", "millimeter": "mm", "centimeter": "cm", "meter": "m",
          "inch": "inch", "foot": "foot"}
_MAX_DEPTH = 16


def _err(code: str, de: str, en: str) -> MeshInputError:
    return MeshInputError(code, f"Die 3MF-Datei ist fehlerhaft: {de}",
                          f"The 3MF file is broken: {en}")


def read_3mf(data: bytes, limits: AnalysisLimits) -> RawMesh:
    """Parse the root model of a 3MF package into a :class:`RawMesh` (file units)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise _err("3mf_not_zip", "sie ist kein gültiges ZIP-Archiv.",
                   "it is not a valid zip archive.") from None
    if len(infos) > limits.max_zip_members:
        raise _err("3mf_too_many_members", f"sie enthält {len(infos)} Dateien (erlaubt: "
                   f"{limits.max_zip_members}).", f"it holds {len(infos)} files (allowed: "
                   f"{limits.max_zip_members}).")
    total = 0
    for info in infos:
        name = info.filename.replace("\\", "/")
        if name.startswith("/") or ".." in name.split("/") or re.match(r"^[A-Za-z]:", name):
            raise _err("zip_unsafe_path", "sie enthält einen unzulässigen Dateipfad.",
                       "it contains an unsafe file path.")
        total += info.file_size
    if total > limits.max_unzipped_bytes:
        raise _zip_budget(limits)
    model_name = _root_model_name(archive, limits)
    xml = _read_member(archive, model_name, limits.max_unzipped_bytes)
    if re.search(rb"<!(DOCTYPE|ENTITY)", xml[:65536] + xml[-4096:], re.IGNORECASE) or re.search(
        rb"<!ENTITY", xml, re.IGNORECASE
    ):
        raise _err("xml_entities", "sie enthält XML-Entitäten, die wir aus Sicherheitsgründen "
                   "nicht lesen.", "it contains XML entities, which we refuse for safety.")
    check_count(len(re.findall(rb"<(?:\w+:)?triangle[\s/]", xml)), limits)
    # a mesh has fewer vertices than triangles (about half); more is padding, not geometry
    if len(re.findall(rb"<(?:\w+:)?vertex[\s/]", xml)) > 3 * limits.max_triangles:
        raise _err("3mf_too_many_vertices", "sie enthält unverhältnismäßig viele Eckpunkte.",
                   "it contains far too many vertices.")
    return _parse_model(xml)


def _zip_budget(limits: AnalysisLimits) -> MeshInputError:
    mb = limits.max_unzipped_bytes // (1024 * 1024)
    return _err("zip_too_large", f"entpackt wäre sie größer als {mb} MB.",
                f"unpacked it would exceed {mb} MB.")


def _read_member(archive: zipfile.ZipFile, name: str, budget: int) -> bytes:
    """Decompress one member, counting bytes as they come (never more than ``budget``)."""
    out = io.BytesIO()
    try:
        with archive.open(name) as fh:
            while chunk := fh.read(1 << 20):
                out.write(chunk)
                if out.tell() > budget:
                    raise _err("zip_too_large", "entpackt wäre sie zu groß.",
                               "unpacked it would be too large.")
    except KeyError:
        raise _err("3mf_no_model", "das 3D-Modell fehlt im Archiv.",
                   "the 3D model is missing from the archive.") from None
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError, RuntimeError,
            ValueError):
        raise _err("3mf_bad_member", "eine Datei im Archiv ist beschädigt.",
                   "a file in the archive is damaged.") from None
    return out.getvalue()


def _root_model_name(archive: zipfile.ZipFile, limits: AnalysisLimits) -> str:
    """Find the 3D model part via _rels/.rels, else the first *.model member."""
    names = archive.namelist()
    if "_rels/.rels" in names:
        rels = _read_member(archive, "_rels/.rels", 1 << 20)
        match = re.search(rb'Target="/?([^"]+\.model)"', rels)
        if match and match.group(1).decode("utf-8", "replace") in names:
            return match.group(1).decode("utf-8", "replace")
    models = [n for n in names if n.lower().endswith(".model")]
    if not models:
        raise _err("3mf_no_model", "das 3D-Modell fehlt im Archiv.",
                   "the 3D model is missing from the archive.")
    return sorted(models, key=lambda n: (not n.startswith("3D/"), n))[0]


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _transform(text: str | None) -> np.ndarray:
    """Parse a 3MF transform "m00 m01 m02 m10 ... m32" into a 4x4 matrix (row vectors)."""
    mat = np.eye(4)
    if text:
        try:
            vals = [float(v) for v in text.split()]
        except ValueError:
            raise _err("3mf_bad_transform", "eine Transformation ist keine Zahlenliste.",
                       "a transform is not a list of numbers.") from None
        if len(vals) != 12 or not np.isfinite(vals).all():
            raise _err("3mf_bad_transform", "eine Transformation hat nicht 12 Zahlen.",
                       "a transform does not have 12 numbers.")
        mat[:, :3] = np.array(vals).reshape(4, 3)
    return mat


def _parse_model(xml: bytes) -> RawMesh:
    """Parse the model XML: objects (meshes or components) placed by build items."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        raise _err("3mf_bad_xml", "das 3D-Modell ist kein gültiges XML.",
                   "the 3D model is not valid XML.") from None
    unit = _UNITS.get(root.get("unit", "millimeter"), None)
    meshes: dict[str, np.ndarray] = {}
    components: dict[str, list[tuple[str, np.ndarray]]] = {}
    for obj in root.iter():
        if _local(obj.tag) != "object":
            continue
        oid = obj.get("id", "")
        for child in obj:
            if _local(child.tag) == "mesh":
                meshes[oid] = _mesh_triangles(child, oid)
            elif _local(child.tag) == "components":
                components[oid] = [(c.get("objectid", ""), _transform(c.get("transform")))
                                   for c in child if _local(c.tag) == "component"]
    items = [(i.get("objectid", ""), _transform(i.get("transform")))
             for i in root.iter() if _local(i.tag) == "item"]
    if not items:
        items = [(oid, np.eye(4)) for oid in meshes]
    parts: list[np.ndarray] = []
    for oid, mat in items:
        _collect(oid, mat, meshes, components, parts, 0)
    tri = np.concatenate(parts) if parts else np.zeros((0, 3, 3))
    return RawMesh(tri, "3mf", "xml", unit_hint=unit)


def _collect(oid: str, mat: np.ndarray, meshes: dict, components: dict,
             out: list[np.ndarray], depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise _err("3mf_recursive", "Bauteile verweisen im Kreis aufeinander.",
                   "components refer to each other in a loop.")
    if oid in meshes:
        tri = meshes[oid]
        out.append(tri @ mat[:3, :3] + mat[3, :3])
    elif oid in components:
        for child, cmat in components[oid]:
            _collect(child, cmat @ mat, meshes, components, out, depth + 1)
    else:
        raise _err("3mf_bad_reference", f"ein Verweis zeigt auf das fehlende Objekt {oid[:20]!r}.",
                   f"a reference points to the missing object {oid[:20]!r}.")


def _mesh_triangles(mesh: ET.Element, oid: str) -> np.ndarray:
    """Return (m, 3, 3) triangles of one <mesh>, refusing bad coordinates and indices."""
    coords: list[tuple[str, str, str]] = []
    idx: list[tuple[str, str, str]] = []
    for node in mesh.iter():
        tag = _local(node.tag)
        if tag == "vertex":
            coords.append((node.get("x", ""), node.get("y", ""), node.get("z", "")))
        elif tag == "triangle":
            idx.append((node.get("v1", ""), node.get("v2", ""), node.get("v3", "")))
    try:
        verts = np.array(coords, dtype=np.float64).reshape(-1, 3)
        faces = np.array(idx, dtype=np.int64).reshape(-1, 3)
    except ValueError:
        raise _err("3mf_bad_number", f"Objekt {oid[:20]!r} enthält eine ungültige Zahl.",
                   f"object {oid[:20]!r} contains an invalid number.") from None
    if len(faces) and (faces.min() < 0 or faces.max() >= len(verts)):
        bad = int(faces.min()) if faces.min() < 0 else int(faces.max())
        raise MeshInputError(
            "3mf_bad_index",
            f"Die 3MF-Datei ist fehlerhaft: ein Dreieck verweist auf Eckpunkt {bad}, gültig sind "
            f"0 bis {len(verts) - 1}.",
            f"The 3MF file is broken: a triangle refers to vertex {bad}; valid are 0 to "
            f"{len(verts) - 1}.",
        )
    return verts[faces]
