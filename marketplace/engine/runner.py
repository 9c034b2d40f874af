"""Run the quote engine on one stored file in a child process with a time and memory limit.

A big or hostile mesh must not take its caller down with it: the child gets a timeout and an
address-space limit, dies with its parent, and only its JSON answer comes back. Every mesh the
app or the command line reads goes through here. Pure: no Flask, no database.

Child protocol: ``python -m marketplace.engine.runner`` reads one JSON job on stdin and prints one
JSON answer on stdout (exit 0), ``{"error": {"code", "params"}}`` when the file
cannot be analysed. Jobs (``kind``):

- ``analyse``: {path, filename, units, mesh_root, estimates} -> {"analysis", "estimates"}; with
  ``mesh_root`` the 3D viewer's mesh is cached there too;
- ``estimate``: {path, filename, units, estimates, rotation} -> {"summary", "estimates"} (no
  wall rays); ``rotation`` (3, 3; default the analysis' suggestion) is the orientation to
  estimate in, recorded with its bbox as the summary's ``placement``;
- ``quote``: {path, filename, units, material, infill, layer_height (None: the profile's),
  quantity, supports, printer_class (None: the catalogue's profile)} -> {"quote"}, the JSON of
  ``python -m marketplace.quote --json``;
- ``thumbnail``: {mesh_path, rotation, out, path, filename, units} -> {"thumbnail": {"bytes",
  "faces"}}: the part's picture (:mod:`marketplace.engine.geometry.thumbnail`) written to ``out``
  as PNG, drawn from the viewer's cached mesh at ``mesh_path`` (from the file at ``path`` when
  that cache is gone).

``estimates`` is a list of {"layer_height_mm", "infill_percent", optionally "printer_class"
(its profile, :func:`catalog.class_profile`; none: the standard one)}; each answer item adds
``estimate`` (``Estimate.to_record()`` at the reference density, or None: nothing to slice).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from marketplace.engine.files import write_atomic
from marketplace.engine.limits import die_with_parent
from marketplace.engine.meshio.load import MeshInputError

ROOT = Path(__file__).resolve().parents[2]
MEMORY_ENV = "DRUCKHUB_ANALYSIS_MEMORY_MB"
PARENT_ENV = "DRUCKHUB_ANALYSIS_PARENT"
NICE_ENV = "DRUCKHUB_ANALYSIS_NICE"  # the child's niceness (default 10)
log = logging.getLogger(__name__)


class AnalysisFailedError(MeshInputError):
    """The file could not be analysed: bad input, or the child crashed or ran out of time/memory."""


def failure_of(exc: BaseException) -> AnalysisFailedError:
    """Return the AnalysisFailedError for an engine input error or for any other error."""
    if isinstance(exc, MeshInputError):
        return AnalysisFailedError(exc.code, exc.text, **exc.params)
    # not the engine's own error: a bug or a parser crash
    return AnalysisFailedError("analysis_failed", "error.analysis_internal")


def failure_from_dict(record: dict[str, Any]) -> AnalysisFailedError:
    """Rebuild the error a child process reported (``MeshInputError.to_dict()``)."""
    try:
        return AnalysisFailedError(str(record["code"]), record.get("text"),
                                   **(record.get("params") or {}))
    except (KeyError, TypeError, ValueError):  # a record this version cannot read
        return AnalysisFailedError("analysis_failed", "error.analysis_internal")


def _too_large() -> AnalysisFailedError:
    return AnalysisFailedError("too_large")


def _estimates(analysis: Any, wanted: list[dict[str, Any]],
               rotation: Any = None) -> list[dict[str, Any]]:
    from marketplace.engine import quote as engine
    from marketplace.engine.pricing.catalog import class_profile

    out = []
    for item in wanted:
        profile = class_profile(item.get("printer_class")).with_options(
            infill_percent=float(item["infill_percent"]),
            layer_height_mm=float(item["layer_height_mm"]))
        est = engine.estimate_part(analysis, profile, supports=item.get("supports", "auto"),
                                   rotation=rotation)
        out.append({**item, "estimate": est.to_record() if est is not None else None})
    return out


def summary_of(record: dict[str, Any]) -> dict[str, Any]:
    """Return the small part of an analysis record a price needs (figures, printable, bbox)."""
    orientation = record.get("orientation") or {}
    return {"mesh": record.get("mesh") or {}, "printable": bool(record.get("printable", True)),
            "problems": [{k: v for k, v in p.items() if k != "location"}
                         for p in record.get("problems") or []],
            "orientation": {k: orientation.get(k) for k in ("bbox_mm", "rotation", "hull_mm")
                            if k in orientation}}


def run_job(job: dict[str, Any], data: bytes | None = None) -> dict[str, Any]:
    """Run one job in this process (on ``data``, else the file at ``job["path"]``); return its
    answer or raise AnalysisFailedError."""
    from marketplace.engine import quote as engine

    kind = job.get("kind", "analyse")
    if kind == "thumbnail" and data is None:
        return _thumbnail(job)
    try:
        if data is None:
            data = Path(job["path"]).read_bytes()
    except OSError as exc:
        raise AnalysisFailedError("file_unreadable", reason=str(exc.strerror or exc)) from exc
    try:
        if kind == "quote":
            return {"quote": engine.quote_file(
                data, job["filename"], units=job.get("units"), material_code=job["material"],
                infill=job["infill"], layer_height=job.get("layer_height"),
                quantity=job["quantity"], supports=job.get("supports", "auto"),
                printer_class=job.get("printer_class"))}
        analysis = engine.analyse_file(data, job["filename"], units=job.get("units"),
                                       check_walls=kind == "analyse")
        record = analysis.to_dict()
        rotation = job.get("rotation") if kind == "estimate" else None
        estimates = _estimates(analysis, list(job.get("estimates") or []), rotation)
    except MemoryError as exc:
        raise _too_large() from exc
    except Exception as exc:  # MeshInputError and anything the parser trips over
        if not isinstance(exc, MeshInputError):
            log.exception("analysis of %s crashed", job.get("filename"))
        raise failure_of(exc) from exc
    if kind == "estimate":
        summary = summary_of(record)
        if rotation is not None:
            import numpy as np

            ext = np.ptp(analysis.oriented_indexed(rotation)[0], axis=0)
            summary["placement"] = {"rotation": [[float(v) for v in row] for row in rotation],
                                    "bbox_mm": [round(float(v), 3) for v in ext]}
        return {"summary": summary, "estimates": estimates}
    if job.get("mesh_root"):
        from marketplace.engine.geometry import viewer_mesh

        path = viewer_mesh.cache_path(job["mesh_root"], analysis.sha256, analysis.units.unit)
        write_atomic(path, viewer_mesh.encode_mesh(analysis.vertices, analysis.faces))
    return {"analysis": record, "estimates": estimates}


def _thumbnail(job: dict[str, Any]) -> dict[str, Any]:
    from marketplace.engine import quote as engine
    from marketplace.engine.geometry import thumbnail, viewer_mesh

    try:
        try:
            vertices, faces = viewer_mesh.decode_mesh(Path(job["mesh_path"]).read_bytes())
            rotation = job.get("rotation")
        except (OSError, ValueError):  # the cache is gone: the mesh from the file itself
            try:
                data = Path(job["path"]).read_bytes()
            except OSError as exc:
                raise AnalysisFailedError("file_unreadable",
                                          reason=str(exc.strerror or exc)) from exc
            analysis = engine.analyse_file(data, job["filename"], units=job.get("units"),
                                           check_walls=False)
            vertices, faces = analysis.oriented_indexed()
            rotation = None
        png = thumbnail.render_png(vertices, faces, rotation)
    except MemoryError as exc:
        raise _too_large() from exc
    except AnalysisFailedError:
        raise
    except Exception as exc:
        if not isinstance(exc, MeshInputError):
            log.exception("thumbnail of %s crashed", job.get("filename"))
        raise failure_of(exc) from exc
    write_atomic(Path(job["out"]), png)
    return {"thumbnail": {"bytes": len(png), "faces": int(len(faces))}}


def analyse_bytes(data: bytes, filename: str, units: str | None = None,
                  mesh_root: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Analyse in this process; return ``PartAnalysis.to_dict()`` or raise AnalysisFailedError.

    Only for trusted callers (tests, benchmarks): untrusted files go to :func:`run_in_subprocess`.
    """
    job = {"kind": "analyse", "filename": filename, "units": units,
           "mesh_root": str(mesh_root) if mesh_root else None}
    return run_job(job, data)["analysis"]


def _limit_memory(memory_mb: int) -> None:
    """Cap this process's address space (called in the child, never in the caller)."""
    import resource

    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _die_with_parent() -> None:
    """Ask Linux to kill this child when its parent dies (a killed worker leaves no orphan)."""
    parent = os.environ.get(PARENT_ENV)
    die_with_parent(int(parent) if parent else None)


def _answer_json(job: dict[str, Any]) -> str:
    """Run ``job`` here (in the child) and return its JSON answer: the job's result, or
    ``{"error": ...}`` when the file cannot be analysed (what :func:`_answer` reads back)."""
    try:
        answer: dict[str, Any] = run_job(job)
    except AnalysisFailedError as exc:
        answer = {"error": exc.to_dict()}
    return json.dumps(answer, allow_nan=False)


def _answer(output: bytes) -> dict[str, Any] | None:
    """Return a child's JSON answer, raise the error it reported, or None (no answer)."""
    try:
        answer = json.loads(output.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if isinstance(answer, dict) and "error" in answer:
        raise failure_from_dict(answer["error"])
    return answer if isinstance(answer, dict) else None


def run_in_subprocess(job: dict[str, Any], *, timeout_s: float = 120, memory_mb: int = 0,
                      heartbeat: Callable[[], None] | None = None,
                      heartbeat_s: float = 5.0, nice: int | None = None) -> dict[str, Any]:
    """Run ``job`` in a child process; return its answer or raise AnalysisFailedError.

    ``heartbeat`` is called every ``heartbeat_s`` while the child works (a task renews its
    lease with it); the child is killed after ``timeout_s`` and when it passes ``memory_mb``.
    ``nice``: how much the child lowers its priority (default ``DRUCKHUB_ANALYSIS_NICE`` or
    10, below the web server; the command line, whose user waits for the answer, passes 0).
    """
    cmd = [sys.executable, "-m", "marketplace.engine.runner"]
    # the child sets its own memory limit (preexec_fn is unsafe in a threaded process)
    env = {**os.environ, MEMORY_ENV: str(int(memory_mb or 0)), PARENT_ENV: str(os.getpid()),
           "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}  # one core per analysis
    if nice is not None:
        env[NICE_ENV] = str(int(nice))
    deadline = time.monotonic() + timeout_s
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=ROOT, env=env)
    payload: bytes | None = json.dumps(job).encode()
    try:
        while True:
            left = deadline - time.monotonic()
            try:
                stdout, stderr = proc.communicate(
                    payload, timeout=max(0.01, min(left, heartbeat_s if heartbeat else left)))
                break
            except subprocess.TimeoutExpired:
                payload = None  # already written; communicate() keeps what was read
                if time.monotonic() >= deadline:
                    raise
                if heartbeat is not None:
                    heartbeat()
    except subprocess.TimeoutExpired as exc:
        raise AnalysisFailedError("analysis_timeout", seconds=f"{timeout_s:g}") from exc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    answer = _answer(stdout)
    if answer is not None:
        return answer
    out_of_memory = (b"MemoryError", b"Memory allocation", b"Cannot allocate memory",
                     b"std::bad_alloc", b"failed to map segment")
    if proc.returncode < 0 or any(word in stderr for word in out_of_memory):
        raise _too_large()
    raise AnalysisFailedError("analysis_failed")


def run_forked(job: dict[str, Any], *, timeout_s: float = 120,
               memory_mb: int = 0) -> dict[str, Any]:
    """Run ``job`` like :func:`run_in_subprocess`, in a forked copy of this process.

    For the command line, whose single-threaded process has imported the engine already: the
    copy starts at once, with those imports, instead of a new interpreter that imports them
    all again. It gets the same limits (``timeout_s``, address space ``memory_mb``), dies with
    its parent and hands back only its JSON answer. A process with other threads, or a system
    without ``fork``, gets :func:`run_in_subprocess`.
    """
    import select
    import threading

    if not hasattr(os, "fork") or threading.active_count() > 1:
        return run_in_subprocess(job, timeout_s=timeout_s, memory_mb=memory_mb, nice=0)
    parent = os.getpid()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        status = 1
        try:
            os.close(read_fd)
            os.environ[PARENT_ENV] = str(parent)
            _die_with_parent()
            # no log line or traceback of the child reaches the user's terminal
            os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
            if memory_mb:
                _limit_memory(memory_mb)
            view = memoryview(_answer_json(job).encode())
            while view:
                view = view[os.write(write_fd, view):]
            status = 0
        except MemoryError:
            status = 3
        except BaseException:  # noqa: BLE001 - the parent reports it
            status = 1
        finally:
            os._exit(status)
    os.close(write_fd)
    deadline = time.monotonic() + timeout_s
    chunks: list[bytes] = []
    ended = False
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AnalysisFailedError("analysis_timeout", seconds=f"{timeout_s:g}")
            ready, _, _ = select.select([read_fd], [], [], left)
            if ready:
                chunk = os.read(read_fd, 1 << 20)
                if not chunk:  # the child closed its end: it has ended
                    ended = True
                    break
                chunks.append(chunk)
    finally:
        os.close(read_fd)
        if not ended:  # out of time (or interrupted): the child goes too
            os.kill(pid, 9)
        _, status = os.waitpid(pid, 0)
    answer = _answer(b"".join(chunks))
    if answer is not None:
        return answer
    # no answer: killed by a signal (an allocation that failed in compiled code aborts), or
    # a MemoryError (exit 3) under the address-space limit
    if os.WIFSIGNALED(status) or os.waitstatus_to_exitcode(status) == 3:
        raise _too_large()
    raise AnalysisFailedError("analysis_failed")


def analyse_in_subprocess(
    path: str | os.PathLike[str],
    filename: str,
    units: str | None = None,
    *,
    timeout_s: float = 120,
    memory_mb: int = 0,
    mesh_root: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Analyse the file at ``path`` in a child process; return ``PartAnalysis.to_dict()``."""
    job = {"kind": "analyse", "path": str(path), "filename": filename, "units": units,
           "mesh_root": str(mesh_root) if mesh_root is not None else None}
    return run_in_subprocess(job, timeout_s=timeout_s, memory_mb=memory_mb)["analysis"]


def main() -> int:
    """Child entry point: run the job read from stdin and print the JSON answer."""
    _die_with_parent()
    # below the web server's priority: a burst of analyses must not slow the pages down
    os.nice(int(os.environ.get(NICE_ENV) or 10))
    memory_mb = int(os.environ.get(MEMORY_ENV) or 0)
    if memory_mb:
        _limit_memory(memory_mb)
    sys.stdout.write(_answer_json(json.loads(sys.stdin.buffer.read())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
