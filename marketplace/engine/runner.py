"""Run the quote engine's analysis of one stored file in a child process with a time limit.

A big or hostile mesh must not take the web process down with it: the child gets a timeout
and an address-space limit, and only its JSON answer comes back. Pure: no Flask, no database.

Child protocol: ``python -m marketplace.engine.runner PATH FILENAME [UNITS [MESH_ROOT]]``
prints one JSON object, ``{"analysis": {...}}`` or ``{"error": {"code", "message", "message_en"}}``,
and exits 0; with MESH_ROOT it also caches the 3D viewer's mesh there.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from marketplace.engine.files import write_atomic
from marketplace.engine.meshio.load import MeshInputError

ROOT = Path(__file__).resolve().parents[2]
MEMORY_ENV = "DRUCKHUB_ANALYSIS_MEMORY_MB"
log = logging.getLogger(__name__)


class AnalysisFailedError(MeshInputError):
    """The file could not be analysed: bad input, or the child crashed or ran out of time/memory."""


def error_of(exc: BaseException) -> tuple[str, str, str | None]:
    """Return ``(code, message, message_en)`` of an engine input error or any other error."""
    code = getattr(exc, "code", None)
    message = getattr(exc, "message", None)
    if not code or not message:  # not the engine's own error: a bug or a parser crash
        return ("analysis_failed", "Die Datei konnte nicht analysiert werden (interner Fehler).",
                "The file could not be analysed (internal error).")
    return str(code), str(message), getattr(exc, "message_en", None)


def analyse_bytes(data: bytes, filename: str, units: str | None = None,
                  mesh_root: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Analyse in this process; return ``PartAnalysis.to_dict()`` or raise AnalysisFailedError.

    With ``mesh_root`` (the upload dir) the 3D viewer's mesh is cached there as well, so the
    part page does not analyse the file a second time.
    """
    from marketplace.engine import quote as engine
    from marketplace.engine.geometry import viewer_mesh

    try:
        analysis = engine.analyse_file(data, filename, units=units)
    except MemoryError as exc:
        raise AnalysisFailedError("too_large", "Die Datei ist zu groß für die Analyse.",
                                  "The file is too large to analyse.") from exc
    except Exception as exc:  # MeshInputError and anything the parser trips over
        if not getattr(exc, "code", None):
            log.exception("analysis of %s crashed", filename)
        raise AnalysisFailedError(*error_of(exc)) from exc
    if mesh_root is not None:
        path = viewer_mesh.cache_path(mesh_root, analysis.sha256, analysis.units.unit)
        write_atomic(path, viewer_mesh.encode_mesh(analysis.vertices, analysis.faces))
    return analysis.to_dict()


def _limit_memory(memory_mb: int) -> None:
    """Cap this process's address space (called in the child, never in the web process)."""
    import resource

    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def analyse_in_subprocess(
    path: str | os.PathLike[str],
    filename: str,
    units: str | None = None,
    *,
    timeout_s: float = 120,
    memory_mb: int = 0,
    mesh_root: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Analyse the file at ``path`` in a child process; raise AnalysisFailedError on failure."""
    cmd = [sys.executable, "-m", "marketplace.engine.runner", str(path), filename,
           units or ""]
    if mesh_root is not None:
        cmd.append(str(mesh_root))
    # the child sets its own memory limit (preexec_fn is unsafe in a threaded web process)
    env = {**os.environ, MEMORY_ENV: str(int(memory_mb or 0)),
           "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}  # one core per analysis
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout_s, cwd=ROOT, env=env)
    except subprocess.TimeoutExpired as exc:
        raise AnalysisFailedError(
            "analysis_timeout",
            f"Die Analyse hat länger als {timeout_s:g} s gedauert und wurde abgebrochen.",
            f"The analysis took longer than {timeout_s:g} s and was stopped.",
        ) from exc
    try:
        answer = json.loads(proc.stdout.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        answer = None
    if isinstance(answer, dict) and "analysis" in answer:
        return answer["analysis"]
    if isinstance(answer, dict) and "error" in answer:
        err = answer["error"]
        raise AnalysisFailedError(err["code"], err["message"], err.get("message_en"))
    out_of_memory = (b"MemoryError", b"Memory allocation", b"Cannot allocate memory",
                     b"std::bad_alloc", b"failed to map segment")
    if proc.returncode < 0 or any(word in proc.stderr for word in out_of_memory):
        raise AnalysisFailedError("too_large", "Die Datei ist zu groß für die Analyse.",
                                  "The file is too large to analyse.")
    raise AnalysisFailedError("analysis_failed", "Die Analyse ist unerwartet fehlgeschlagen.",
                              "The analysis failed unexpectedly.")


def main(argv: list[str]) -> int:
    """Child entry point: analyse one file and print the JSON answer."""
    memory_mb = int(os.environ.get(MEMORY_ENV) or 0)
    if memory_mb:
        _limit_memory(memory_mb)
    path, filename = argv[0], argv[1]
    units = (argv[2] if len(argv) > 2 else "") or None
    mesh_root = argv[3] if len(argv) > 3 else None
    try:
        data = Path(path).read_bytes()
        answer: dict[str, Any] = {"analysis": analyse_bytes(data, filename, units, mesh_root)}
    except AnalysisFailedError as exc:
        answer = {"error": exc.to_dict()}
    sys.stdout.write(json.dumps(answer))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
