"""Mesh topology of a triangle soup: vertex identity, edges, shells, winding, repairs.

Vertices are identical when their float32 coordinates are bit-identical (-0.0 counts as 0.0), the
way an STL exporter writes shared corners. The fast path (clean, closed, consistently wound
meshes: nearly every upload) never merges vertices: each half-edge gets a 64-bit key from its two
end points, one sort pairs the half-edges, and the pairs are verified on the exact coordinates.
Anything else (open or non-manifold edges, flipped faces, collapsed or duplicate faces, a hash
collision) takes the exact path, which merges vertices and repairs what it can.

All arrays are in file units; nothing here knows about millimetres.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np

from marketplace.engine.geometry.topology_types import MAX_LOCATIONS, Topology  # noqa: F401

_K1, _K2, _K3 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F), np.uint64(
    0x165667B19E3779F9
)
_TINY = np.float32(1e-8).view(np.uint32)  # coordinate noise below this is flushed to 0


def corner_bits(tri: np.ndarray, owned: bool = False) -> np.ndarray:
    """Return (3m, 3) uint32 bit patterns of the corners' float32 coordinates.

    Coordinates closer to 0 than 1e-8 (CAD rounding noise such as 2.4e-18, and -0.0) become
    +0.0, as trimesh's merge (8 decimals) would treat them. With ``owned`` a contiguous
    float32 ``tri`` is flushed in place (saves a copy of the whole mesh).
    """
    c = np.ascontiguousarray(tri, dtype=np.float32).reshape(-1, 3)
    bits = c.view(np.uint32)
    if not owned and np.shares_memory(c, tri):
        bits = bits.copy()
    step = 1 << 20  # rows per chunk: the temporaries stay small (and are reused)
    for start in range(0, len(bits), step):
        chunk = bits[start:start + step]
        chunk[(chunk & np.uint32(0x7FFFFFFF)) < _TINY] = 0
    return bits


def _vertex_hash(bits: np.ndarray) -> np.ndarray:
    """Return a 64-bit hash per corner, (n,) uint64 (multiply-xor of the three bit patterns)."""
    with np.errstate(over="ignore"):
        h = bits[:, 0] * _K1
        h ^= bits[:, 1] * _K2
        h ^= bits[:, 2] * _K3
    return h


def _next_corner(e: np.ndarray) -> np.ndarray:
    """Corner index of the end of half-edge ``e`` (half-edge e runs corner e -> next)."""
    k = e % 3
    return e - k + (k + 1) % 3


def _next_corner_fast(e: np.ndarray) -> np.ndarray:
    """_next_corner for int64 indices, via a float reciprocal instead of integer modulo."""
    face = (e * (1.0 / 3.0) + 1e-7).astype(np.int64)  # exact for e < 2**50
    k = e - 3 * face
    return e + 1 - 3 * (k == 2)


def _all_next(n: int) -> np.ndarray:
    """_next_corner(arange(n)) without the slow modulo: offsets +1, +1, -2 per face."""
    out = np.arange(1, n + 1, dtype=np.int64)
    out[2::3] -= 3
    return out


def analyse_topology(tri: np.ndarray, owned: bool = False) -> Topology:
    """Analyse triangles (m, 3, 3) float; try the fast path, else the exact one.

    owned : ``tri`` is a float32 copy the caller gives up: coordinate noise below 1e-8 is
    flushed to 0 in place.
    """
    return topology_of(tri, corner_bits(tri, owned))


def topology_of(tri: np.ndarray, bits: np.ndarray) -> Topology:
    """Analyse triangles (m, 3, 3) whose corner bit patterns are ``bits`` (see corner_bits)."""
    return topology_finish(tri, bits, topology_start(bits))


@dataclass(frozen=True, eq=False)
class Pending:
    """The fast path's pairing (and the face across each half-edge) and shells."""

    hv: np.ndarray
    pairs: tuple[np.ndarray, np.ndarray] | None
    labels: np.ndarray | None = None
    n_shells: int = 0
    across: np.ndarray | None = None  # (3m,) int32, see shells.faces_across


def topology_start(bits: np.ndarray, paired: Future | None = None) -> Pending:
    """First half of :func:`topology_of`: hash, pair (one sort) and label the shells.

    With ``paired`` the pairing's check (a :class:`PairCheck`, or None: no pairing) is handed
    over as soon as the pairing exists, before the shells are labelled: another thread can
    then check it meanwhile and pass the answer to :func:`topology_finish`. ``paired``
    always gets a result or an exception, so nobody waits on it forever.
    """
    try:
        m = len(bits) // 3
        hv = _vertex_hash(bits)
        pairs = _fast_pairs(bits, hv, m, check=False)
    except BaseException as exc:
        if paired is not None:
            paired.set_exception(exc)
        raise
    if paired is not None:
        paired.set_result(None if pairs is None else PairCheck(hv, *pairs))
    if pairs is None:
        return Pending(hv, None)
    # imported here, not at the top: scipy's import (~0.25 s) then overlaps the other
    # thread's numpy work instead of delaying the start of every analysis
    from marketplace.engine.geometry import shells as shells_mod

    across = shells_mod.faces_across(pairs[0], pairs[1], m)
    labels, n = shells_mod.closed_components(across)
    return Pending(hv, pairs, labels, n, across)


def topology_finish(tri: np.ndarray, bits: np.ndarray, pending: Pending,
                    agree: bool | None = None) -> Topology:
    """Second half of :func:`topology_of`: check the fast pairing (unless ``agree`` says how
    the check came out), else take the exact path."""
    m = len(tri)
    if pending.pairs is not None and agree is None:
        agree = pairs_agree(pending.hv, *pending.pairs)
    if pending.pairs is not None and agree:
        empty = np.zeros((0, 2, 3))
        return Topology(
            np.ones(m, bool), np.zeros(m, bool), pending.labels, pending.n_shells, 0, 0, 0, 0,
            0, 0, empty, empty, np.zeros(0, np.int64),
        )
    # imported here: the exact path pulls in scipy.sparse, which the clean-mesh fast path
    # (nearly every upload, in a fresh child process) never needs
    from marketplace.engine.geometry.repair import exact_topology

    return exact_topology(tri, bits, pending.hv)


def _fast_pairs(
    bits: np.ndarray, hv: np.ndarray, m: int, check: bool = True
) -> tuple[np.ndarray, np.ndarray] | None:
    """Pair the half-edges of a clean closed mesh, or return None if it is not one.

    check=False leaves the check on the vertex hashes (:func:`pairs_agree`) to the caller.
    """
    n = 3 * m
    shift = max(int(n).bit_length(), 1)
    hv3 = hv.reshape(-1, 3)
    und = np.empty(n, dtype=np.uint64)
    und3 = und.reshape(-1, 3)
    with np.errstate(over="ignore"):  # key of edge corner k -> corner k+1 of every face
        np.add(hv3[:, 0], hv3[:, 1], out=und3[:, 0])
        np.add(hv3[:, 1], hv3[:, 2], out=und3[:, 1])
        np.add(hv3[:, 2], hv3[:, 0], out=und3[:, 2])
    und &= np.uint64(~((1 << shift) - 1) & 0xFFFFFFFFFFFFFFFF)
    # the half-edge's index in the low bits, written face by face (no (3m,) temporary)
    first = np.arange(0, n, 3, dtype=np.uint64)
    und3[:, 0] |= first
    first += np.uint64(1)
    und3[:, 1] |= first
    first += np.uint64(1)
    und3[:, 2] |= first
    del first
    key = und
    key.sort()
    if n % 2 or not _same_key(key[0::2], key[1::2], shift).all():
        return None  # an edge not shared by exactly two faces (or a freak collision)
    merged = np.flatnonzero(_same_key(key[1:-1:2], key[2::2], shift))  # pairs j, j+1 share one
    key &= np.uint64((1 << shift) - 1)  # in place: the sorted half-edge indices
    idx = key.view(np.int64)
    p, q = idx[0::2], idx[1::2]  # strided views: no copy unless collisions need a fix
    del key, und
    if len(merged):
        p, q = p.copy(), q.copy()
        if not _split_collisions(merged, p, q, bits):
            return None
    if check and not pairs_agree(hv, p, q):
        return None
    return p, q


def pairs_agree(hv: np.ndarray, p: np.ndarray, q: np.ndarray) -> bool:
    """Check a pairing on the 64-bit vertex hashes: p's start is q's end and p's end is q's
    start (opposite directions), and no edge has zero length.

    Anything else (same direction, a collapsed face, a collision of the short key) means the
    exact path. Two distinct corners share a 64-bit hash with a probability of about 1e-8
    for a 2-million-triangle file. (:class:`PairCheck` in this thread alone.)
    """
    return PairCheck(hv, p, q).agree()


class PairCheck:
    """:func:`pairs_agree` in chunks that every thread free to help takes in turn (small
    temporaries, no copy of the hashes): ``help()`` checks chunks until none is left to take
    (or one disagreed); ``agree()`` helps, waits for the chunks the others took and says
    whether every chunk agrees (raising what a chunk raised)."""

    CHUNK = 1 << 18  # pairs

    def __init__(self, hv: np.ndarray, p: np.ndarray, q: np.ndarray) -> None:
        self.hv, self.p, self.q = hv, p, q
        self._chunks = max(1, -(-len(p) // self.CHUNK))
        self._taken = self._done = 0
        self._agree = True
        self._error: BaseException | None = None
        self._cond = threading.Condition()

    def help(self) -> None:
        while True:
            with self._cond:
                if self._taken == self._chunks or not self._agree or self._error:
                    return
                i = self._taken
                self._taken += 1
            ok, error = False, None
            try:
                ok = self._check(slice(i * self.CHUNK, (i + 1) * self.CHUNK))
            except BaseException as exc:  # noqa: BLE001 - handed to whoever waits
                error = exc
            with self._cond:
                self._done += 1
                self._agree = self._agree and ok
                self._error = self._error or error
                self._cond.notify_all()
            if error is not None:
                raise error

    def agree(self) -> bool:
        self.help()
        with self._cond:
            self._cond.wait_for(lambda: self._done == self._taken)
            if self._error is not None:
                raise self._error
            return self._agree

    def _check(self, part: slice) -> bool:
        p, q, hv = self.p[part], self.q[part], self.hv
        hp, hpe = hv[p], hv[_next_corner_fast(p)]
        return bool(((hp == hv[_next_corner_fast(q)]) & (hpe == hv[q]) & (hp != hpe)).all())


def _same_key(a: np.ndarray, b: np.ndarray, shift: int) -> np.ndarray:
    """Whether sorted keys a and b agree above their ``shift`` index bits (bool array)."""
    x = np.bitwise_xor(a, b)
    x >>= np.uint64(shift)
    return x == 0


def _split_collisions(merged: np.ndarray, p: np.ndarray, q: np.ndarray, bits: np.ndarray,
                      max_pairs: int = 4096) -> bool:
    """Re-pair, in place, the few half-edges whose short keys collided (exact coordinates).

    merged : positions j where key pair j and pair j + 1 are equal. Returns False if a real
    edge is not shared by exactly two faces.
    """
    involved = np.unique(np.concatenate([merged, merged + 1]))
    if len(involved) > max_pairs:
        return False
    odd = np.concatenate([p[involved], q[involved]])
    a = bits[odd]
    b = bits[_next_corner(odd)]
    swap = (a[:, 0] > b[:, 0]) | ((a[:, 0] == b[:, 0]) & ((a[:, 1] > b[:, 1]) | (
        (a[:, 1] == b[:, 1]) & (a[:, 2] > b[:, 2]))))
    lo = np.where(swap[:, None], b, a)
    hi = np.where(swap[:, None], a, b)
    _, inverse, counts = np.unique(
        np.hstack([lo, hi]), axis=0, return_inverse=True, return_counts=True
    )
    if (counts != 2).any():
        return False
    order = np.argsort(inverse.ravel(), kind="stable")
    p[involved] = odd[order[0::2]]
    q[involved] = odd[order[1::2]]
    return True
