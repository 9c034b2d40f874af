"""A picture of a part: its mesh in the suggested orientation, seen from the front right and
above, shaded, as a PNG with a transparent background. Pure (numpy and Pillow; no GPU, no
display).

Pillow draws the triangles back to front (painter's algorithm) at twice the size and scales the
picture down (smooth edges). A mesh of more than ``MAX_FACES`` triangles is first thinned by
clustering its vertices on a grid finer than a pixel of the picture (the picture cannot show
more), so drawing takes well under a second whatever the mesh; the caller bounds time and
memory by running this in the engine's child process (:mod:`marketplace.engine.runner`).
"""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image, ImageDraw

from marketplace.engine.geometry.faces import rotate

SIZE = 256  # pixels, square
SUPERSAMPLE = 2  # drawn this many times larger, then scaled down
MAX_FACES = 150_000  # drawn one by one (about 4 µs each)
MARGIN = 0.06  # share of the picture left free on each side
AZIMUTH_DEG = 35.0  # the camera stands front right ...
ELEVATION_DEG = 30.0  # ... and above the bed
COLOUR = np.array([66.0, 122.0, 170.0])  # the parts' blue (app.css --accent family)
AMBIENT = 0.38


def _camera() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the unit vectors right, up and towards the camera of the fixed view."""
    az, el = math.radians(AZIMUTH_DEG), math.radians(ELEVATION_DEG)
    towards = np.array([math.cos(el) * math.sin(az), -math.cos(el) * math.cos(az),
                        math.sin(el)])
    right = np.cross([0.0, 0.0, 1.0], towards)
    right /= np.linalg.norm(right)
    up = np.cross(towards, right)
    return right, up, towards


def cluster(vertices: np.ndarray, faces: np.ndarray, cell: float
            ) -> tuple[np.ndarray, np.ndarray]:
    """Merge vertices within one grid ``cell`` (mm) and drop the triangles that collapse or
    repeat: the mesh as a picture of cells that size shows it."""
    keys = np.floor(vertices / cell).astype(np.int64)
    _unique, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    merged = vertices[first]
    f = inverse.reshape(-1)[faces]
    keep = (f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2]) & (f[:, 0] != f[:, 2])
    f = f[keep]
    if len(f):
        _u, idx = np.unique(np.sort(f, axis=1), axis=0, return_index=True)
        f = f[np.sort(idx)]
    return merged, f


def render_png(vertices: np.ndarray, faces: np.ndarray, rotation=None, *,
               size: int = SIZE) -> bytes:
    """Return the PNG picture of the mesh ``vertices`` (n, 3) mm / ``faces`` (m, 3), turned by
    ``rotation`` (3, 3; the analysis' suggested orientation) before it is looked at."""
    v = np.asarray(vertices, dtype=np.float64).reshape(-1, 3)
    f = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    if rotation is not None:
        v = rotate(v, np.asarray(rotation, dtype=np.float64).reshape(3, 3))
    if len(f):
        f = f[(f >= 0).all(axis=1) & (f < len(v)).all(axis=1)]
    full = size * SUPERSAMPLE
    right, up, towards = _camera()
    if len(v) and len(f):
        span = float(np.ptp(v, axis=0).max()) or 1.0
        cell = span / full  # about a pixel of the large picture
        for _round in range(8):  # bounded: each round doubles the cell
            if len(f) <= MAX_FACES:
                break
            v, f = cluster(v, f, cell)
            cell *= 2.0
        f = f[:MAX_FACES]
    image = Image.new("RGBA", (full, full), (255, 255, 255, 0))
    if len(f):
        sx, sy, depth = v @ right, v @ up, v @ towards
        used = np.unique(f)
        lo = np.array([sx[used].min(), sy[used].min()])
        hi = np.array([sx[used].max(), sy[used].max()])
        scale = full * (1 - 2 * MARGIN) / max(float((hi - lo).max()), 1e-9)
        centre = (lo + hi) / 2
        px = (sx - centre[0]) * scale + full / 2
        py = full / 2 - (sy - centre[1]) * scale  # image rows grow downwards
        tri = v[f]
        normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        lengths = np.linalg.norm(normals, axis=1)
        normals /= np.where(lengths > 0, lengths, 1.0)[:, None]
        light = towards + 0.6 * up - 0.3 * right
        light /= np.linalg.norm(light)
        # two-sided: a face turned away (a mesh with flipped triangles) is still lit
        shade = AMBIENT + (1 - AMBIENT) * np.abs(normals @ light)
        colours = np.clip(COLOUR[None, :] * shade[:, None] * 1.25, 0, 255).astype(np.uint8)
        order = np.argsort(depth[f].mean(axis=1), kind="stable")  # far first
        xs, ys = px[f][order], py[f][order]
        draw = ImageDraw.Draw(image)
        for x3, y3, c in zip(xs.tolist(), ys.tolist(), colours[order].tolist(), strict=True):
            fill = (c[0], c[1], c[2], 255)
            draw.polygon(list(zip(x3, y3, strict=True)), fill=fill, outline=fill)
    small = image.resize((size, size), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    small.save(out, format="PNG", optimize=True)
    return out.getvalue()
