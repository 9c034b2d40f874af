"""Read a 3MF package (zip + XML) safely into triangles.

Checks, in order: the zip opens; it has at most ``max_zip_members`` members; no member name is
absolute or climbs out with ".."; the declared uncompressed sizes stay within
``max_unzipped_bytes`` and within ``max_zip_ratio`` times the size of the archive itself, both
*before* anything is decompressed (a 510 KB file that would inflate to 500 MB is refused at
once); decompression is counted again while streaming (a lying header cannot expand further).

The XML is parsed by defusedxml's expat parser, which refuses a DOCTYPE, an entity declaration
or an external reference as expat reports them, that is after decoding: a model in UTF-16 or
any other declared encoding cannot hide one from the check. The model streams from the zip
into the parser, and its elements go straight into arrays (no element tree): triangles and
vertices are counted as they come, and the first one over the limit stops the parse. Every
triangle index lies in 0..vertices-1 (negative ones are refused); component references exist
and do not recurse. Units come from the ``unit`` attribute of the root element.
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from collections.abc import Iterator
from typing import Any

import numpy as np
from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeET

from marketplace.engine.limits import AnalysisLimits
from marketplace.engine.meshio.base import MeshInputError, RawMesh, check_count
from marketplace.engine.texts import msg

_UNITS = {"micron": "micron", "millimeter": "mm", "centimeter": "cm", "meter": "m",
          "inch": "inch", "foot": "foot"}
_MAX_DEPTH = 16
_CHUNK = 1 << 20
# archives that unpack to less than this are never refused for their ratio (tiny files with
# long runs of one byte compress extremely well and cost nothing)
RATIO_FREE_BYTES = 8 * 1024 * 1024
_ARCHIVE_ERRORS = (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError,
                   RuntimeError, ValueError)


def _err(code: str, reason: str, **params: Any) -> MeshInputError:
    """``code`` with the sentence "the 3MF file is broken: <reason>" (``3mf.*`` texts)."""
    return MeshInputError(code, "error.3mf", reason=msg(reason, **params))


def read_3mf(data: bytes, limits: AnalysisLimits) -> RawMesh:
    """Parse the root model of a 3MF package into a :class:`RawMesh` (file units)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise _err("3mf_not_zip", "3mf.not_zip") from None
    if len(infos) > limits.max_zip_members:
        raise _err("3mf_too_many_members", "3mf.too_many_members", count=len(infos),
                   limit=limits.max_zip_members)
    total = 0
    for info in infos:
        name = info.filename.replace("\\", "/")
        if name.startswith("/") or ".." in name.split("/") or re.match(r"^[A-Za-z]:", name):
            raise _err("zip_unsafe_path", "3mf.unsafe_path")
        total += info.file_size
    if total > limits.max_unzipped_bytes:
        raise _zip_budget(limits)
    if total > max(RATIO_FREE_BYTES, limits.max_zip_ratio * len(data)):
        ratio = total // max(len(data), 1)
        raise MeshInputError("zip_ratio", ratio=ratio, limit=limits.max_zip_ratio)
    model = _ModelReader(limits)
    parser = SafeET.XMLParser(target=model, forbid_dtd=True)
    try:
        for chunk in _member_chunks(archive, _root_model_name(archive),
                                    limits.max_unzipped_bytes):
            parser.feed(chunk)
        parser.close()
    except DefusedXmlException:
        raise _entities_error() from None
    except SafeET.ParseError:
        raise _err("3mf_bad_xml", "3mf.bad_xml") from None
    return model.raw_mesh()


def _zip_budget(limits: AnalysisLimits) -> MeshInputError:
    mb = limits.max_unzipped_bytes // (1024 * 1024)
    return _err("zip_too_large", "3mf.too_large", mb=mb)


def _entities_error() -> MeshInputError:
    return _err("xml_entities", "3mf.entities")


def _bad_member() -> MeshInputError:
    return _err("3mf_bad_member", "3mf.bad_member")


def _member_chunks(archive: zipfile.ZipFile, name: str, budget: int) -> Iterator[bytes]:
    """Yield one member decompressed in chunks, counting bytes as they come (never more than
    ``budget``). Only the archive's own errors are translated here, not the consumer's."""
    try:
        handle = archive.open(name)
    except KeyError:
        raise _err("3mf_no_model", "3mf.no_model") from None
    except _ARCHIVE_ERRORS:
        raise _bad_member() from None
    read = 0
    with handle:
        while True:
            try:
                chunk = handle.read(_CHUNK)
            except _ARCHIVE_ERRORS:
                raise _bad_member() from None
            if not chunk:
                return
            read += len(chunk)
            if read > budget:
                raise _err("zip_too_large", "3mf.too_large_unpacked")
            yield chunk


def _root_model_name(archive: zipfile.ZipFile) -> str:
    """Find the 3D model part via _rels/.rels, else the first *.model member."""
    names = archive.namelist()
    if "_rels/.rels" in names:
        rels = b"".join(_member_chunks(archive, "_rels/.rels", 1 << 20))
        try:
            root = SafeET.fromstring(rels, forbid_dtd=True)
        except DefusedXmlException:
            raise _entities_error() from None
        except SafeET.ParseError:
            root = None  # a broken relationships part: look for the model by its name
        for rel in root.iter() if root is not None else ():
            target = (rel.get("Target") or "").lstrip("/")
            if _local(rel.tag) == "Relationship" and target.endswith(".model") \
                    and target in names:
                return target
    models = [n for n in names if n.lower().endswith(".model")]
    if not models:
        raise _err("3mf_no_model", "3mf.no_model")
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
            raise _err("3mf_bad_transform", "3mf.transform_not_numbers") from None
        if len(vals) != 12 or not np.isfinite(vals).all():
            raise _err("3mf_bad_transform", "3mf.transform_not_12")
        mat[:, :3] = np.array(vals).reshape(4, 3)
    return mat


class _ModelReader:
    """The parser's target: objects (meshes or components) placed by build items, collected
    element by element as expat reports them (``start``/``end``; character data is skipped)."""

    def __init__(self, limits: AnalysisLimits):
        self.max_triangles = limits.max_triangles
        self.limits = limits
        self.unit: str | None = None
        self.root_seen = False
        self.stack: list[str] = []
        self.object_id: str | None = None
        self.mesh_depth = 0  # stack depth of the open <mesh> of an object, 0 = none open
        self.coords: list[tuple[str, str, str]] = []
        self.idx: list[tuple[str, str, str]] = []
        self.vertices = self.triangles = 0
        self.meshes: dict[str, np.ndarray] = {}
        self.components: dict[str, list[tuple[str, np.ndarray]]] = {}
        self.items: list[tuple[str, np.ndarray]] = []

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        name = tag[tag.rfind("}") + 1:]
        if not self.root_seen:
            self.root_seen = True
            self.unit = _UNITS.get(attrib.get("unit", "millimeter"))
        if name == "vertex":
            self.vertices += 1
            # a mesh has fewer vertices than triangles (about half); more is padding
            if self.vertices > 3 * self.max_triangles:
                raise _err("3mf_too_many_vertices", "3mf.too_many_vertices")
            if self.mesh_depth:
                self.coords.append((attrib.get("x", ""), attrib.get("y", ""), attrib.get("z", "")))
        elif name == "triangle":
            self.triangles += 1
            if self.triangles > self.max_triangles:
                check_count(self.triangles, self.limits)
            if self.mesh_depth:
                self.idx.append((attrib.get("v1", ""), attrib.get("v2", ""),
                                 attrib.get("v3", "")))
        else:
            self._start_other(name, attrib)
        self.stack.append(name)

    def _start_other(self, name: str, attrib: dict[str, str]) -> None:
        parent = self.stack[-1] if self.stack else None
        if name == "object":
            self.object_id = attrib.get("id", "")
        elif name == "mesh" and parent == "object" and not self.mesh_depth:
            self.mesh_depth = len(self.stack) + 1
            self.coords, self.idx = [], []
        elif name == "components" and parent == "object":
            self.components[self.object_id or ""] = []
        elif name == "component" and parent == "components" and self.stack[-2:-1] == ["object"]:
            self.components[self.object_id or ""].append(
                (attrib.get("objectid", ""), _transform(attrib.get("transform"))))
        elif name == "item":
            self.items.append((attrib.get("objectid", ""), _transform(attrib.get("transform"))))

    def end(self, tag: str) -> None:
        if self.mesh_depth == len(self.stack):
            oid = self.object_id or ""
            self.meshes[oid] = _mesh_triangles(self.coords, self.idx, oid)
            self.coords, self.idx, self.mesh_depth = [], [], 0
        self.stack.pop()

    def close(self) -> None:
        return None

    def raw_mesh(self) -> RawMesh:
        """Place every build item (all meshes when the build is empty) into one triangle array."""
        items = self.items or [(oid, np.eye(4)) for oid in self.meshes]
        parts: list[np.ndarray] = []
        for oid, mat in items:
            _collect(oid, mat, self.meshes, self.components, parts, 0)
        tri = np.concatenate(parts) if parts else np.zeros((0, 3, 3))
        return RawMesh(tri, "3mf", "xml", unit_hint=self.unit)


def _collect(oid: str, mat: np.ndarray, meshes: dict, components: dict,
             out: list[np.ndarray], depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise _err("3mf_recursive", "3mf.recursive")
    if oid in meshes:
        tri = meshes[oid]
        out.append(tri @ mat[:3, :3] + mat[3, :3])
    elif oid in components:
        for child, cmat in components[oid]:
            _collect(child, cmat @ mat, meshes, components, out, depth + 1)
    else:
        raise _err("3mf_bad_reference", "3mf.bad_reference", object=repr(oid[:20]))


def _mesh_triangles(coords: list[tuple[str, str, str]], idx: list[tuple[str, str, str]],
                    oid: str) -> np.ndarray:
    """Return (m, 3, 3) triangles of one <mesh>, refusing bad coordinates and indices."""
    try:
        verts = np.array(coords, dtype=np.float64).reshape(-1, 3)
        faces = np.array(idx, dtype=np.int64).reshape(-1, 3)
    except ValueError:
        raise _err("3mf_bad_number", "3mf.bad_number", object=repr(oid[:20])) from None
    if len(faces) and (faces.min() < 0 or faces.max() >= len(verts)):
        bad = int(faces.min()) if faces.min() < 0 else int(faces.max())
        raise _err("3mf_bad_index", "3mf.bad_index", vertex=str(bad), last=str(len(verts) - 1))
    return verts[faces]
