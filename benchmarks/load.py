"""Load test: 20 firms upload a 7.6 MB STL at once while 50 clients load pages, against the
production server (gunicorn.conf.py) with one task worker (`flask worker -w 2`).

    .venv/bin/python benchmarks/load.py [--firms 20] [--clients 50] [--workers 2]
        [--database-url postgresql://...] [--redis-url redis://127.0.0.1:6379/6]

Default: the embedded set-up (SQLite database, Huey on SQLite) in a temporary directory.

The upload: the corpus has no file of 7.5 MB (its largest, ``trimesh__counter_unitsmm.stl``, has
4.2 MB), so the benchmark lays five real corpus parts side by side into one binary STL
(counter, frog legs, rear case, extruder body, spool holder: 152,676 triangles, 7.6 MB); every
firm uploads it (each upload is its own part and its own analysis).

Printed: errors, upload and page latencies (p50/p95), the time until every part is ready, the
peak memory (resident, summed over the web server's and the worker's processes and the
analysis children), and how many analyses ran (each part's claims and the workers' log lines).
Goals on a 2-core machine: 0 errors, page p95 < 0.5 s while the burst is analysed, every part
ready, no analysis run twice.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import requests

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / ".." / "shared" / "corpus" / "models"
PLATE = ("trimesh__counter_unitsmm.stl", "prusaslice__frog_legs.stl", "numpystl__rear_case.stl",
         "originalpr__extruder_body.stl", "originalpr__Spool_holder.stl")
PASSWORD = "Last-Test-2026!"
sys.path.insert(0, str(ROOT))


def plate_stl() -> bytes:
    """The five corpus parts (binary STLs) side by side along x, 5 mm apart, as one STL."""
    records = []
    x = 0.0
    for name in PLATE:
        data = (CORPUS / name).read_bytes()
        (count,) = struct.unpack_from("<I", data, 80)
        rec = np.frombuffer(data, dtype=np.dtype([("n", "<f4", 3), ("v", "<f4", (3, 3)),
                                                  ("a", "<u2")]), count=count, offset=84).copy()
        v = rec["v"]
        v[..., 0] += x - v[..., 0].min()
        x = float(v[..., 0].max()) + 5.0
        records.append(rec)
    plate = np.concatenate(records)
    return b"druckhub load test plate".ljust(80, b" ") + struct.pack("<I", len(plate)) + \
        plate.tobytes()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


class MemoryWatch(threading.Thread):
    """Sample the resident memory of the process groups ``pgids`` (and their children)."""

    def __init__(self, pgids: dict[str, int]) -> None:
        super().__init__(daemon=True)
        self.pgids = pgids
        self.peak = {name: 0 for name in pgids} | {"total": 0}
        self.stop = threading.Event()

    def run(self) -> None:
        page = os.sysconf("SC_PAGE_SIZE")
        while not self.stop.wait(0.2):
            now = dict.fromkeys(self.pgids, 0)
            for entry in Path("/proc").iterdir():
                if not entry.name.isdigit():
                    continue
                try:
                    stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                    rss = int((entry / "statm").read_text().split()[1]) * page
                except (OSError, IndexError, ValueError):
                    continue
                pgid = int(stat[2])
                for name, group in self.pgids.items():
                    if pgid == group:
                        now[name] += rss
            for name, value in now.items():
                self.peak[name] = max(self.peak[name], value)
            self.peak["total"] = max(self.peak["total"], sum(now.values()))


def setup(env: dict[str, str], firms: int, clients: int) -> list[tuple[str, str]]:
    """Migrate the database, add materials and one user per firm (and per page client)."""
    os.environ.update(env)
    from werkzeug.security import generate_password_hash

    from marketplace import create_app
    from marketplace.extensions import db
    from marketplace.models import Firm, User

    subprocess.run([sys.executable, "-m", "flask", "--app", "marketplace", "db", "upgrade"],
                   cwd=ROOT, env=env, check=True, capture_output=True)
    subprocess.run([sys.executable, "-m", "flask", "--app", "marketplace", "seed-demo"],
                   cwd=ROOT, env=env, check=True, capture_output=True)
    app = create_app()
    accounts = []
    digest = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
    with app.app_context():
        firm_rows = []
        for n in range(firms):
            firm = Firm(name=f"Lastfirma {n:02d} GmbH", city="Lüneburg")
            db.session.add(firm)
            firm_rows.append(firm)
        for n in range(max(firms, clients)):
            email = f"last{n:02d}@example.de"
            db.session.add(User(email=email, password_hash=digest, role="firm",
                                firm=firm_rows[n % firms], name=f"Last {n}"))
            accounts.append((email, PASSWORD))
        db.session.commit()
    return accounts


def sign_in(url: str, email: str, password: str) -> requests.Session:
    session = requests.Session()
    resp = session.post(url + "/login", data={"email": email, "password": password},
                        allow_redirects=False, timeout=30)
    if resp.status_code not in (302, 303):
        raise SystemExit(f"sign-in failed for {email}: {resp.status_code}")
    return session


def wait_up(url: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "/livez", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise SystemExit("the web server did not come up")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--firms", type=int, default=20)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--workers", type=int, default=2, help="task worker threads")
    ap.add_argument("--database-url", default=None)
    ap.add_argument("--redis-url", default=None)
    ap.add_argument("--timeout", type=float, default=900, help="give up after this (s)")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="druckhub-load-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SECRET_KEY": "load-test",
           "DATABASE_URL": args.database_url or f"sqlite:///{tmp / 'druckhub.sqlite3'}",
           "UPLOAD_DIR": str(tmp / "uploads"), "HUEY_SQLITE_PATH": str(tmp / "huey.sqlite3"),
           "HUEY_NAME": f"load{port}", "PORT": str(port), "WTF_CSRF_ENABLED": "0",
           "ANALYSIS_MAX_PENDING_PER_FIRM": "20", "LOG_LEVEL": "INFO",
           "PROMETHEUS_MULTIPROC_DIR": str(tmp / "metrics")}
    if args.redis_url:
        env.update(HUEY_STORAGE="redis", REDIS_URL=args.redis_url)
    (tmp / "metrics").mkdir()
    data = plate_stl()
    print(f"upload: {len(data) / 1e6:.1f} MB, {(len(data) - 84) // 50} triangles "
          f"({', '.join(PLATE)})")
    accounts = setup(env, args.firms, args.clients)

    web_log, worker_log = open(tmp / "web.log", "wb"), open(tmp / "worker.log", "wb")
    web = subprocess.Popen([str(ROOT / ".venv" / "bin" / "gunicorn"), "-c", "gunicorn.conf.py",
                            "marketplace:create_app()"], cwd=ROOT, env=env, stdout=web_log,
                           stderr=subprocess.STDOUT, start_new_session=True)
    worker = subprocess.Popen([sys.executable, "-m", "flask", "--app", "marketplace", "worker",
                               "-w", str(args.workers)], cwd=ROOT, env=env, stdout=worker_log,
                              stderr=subprocess.STDOUT, start_new_session=True)
    watch = MemoryWatch({"web": web.pid, "worker": worker.pid})
    try:
        wait_up(url)
        uploaders = [sign_in(url, *accounts[n]) for n in range(args.firms)]
        readers = [sign_in(url, *accounts[n]) for n in range(args.clients)]
        watch.start()
        lock = threading.Lock()
        upload_s: list[float] = []
        page_s: list[float] = []
        errors: list[str] = []
        part_urls: dict[int, list[str]] = {}  # firm number -> its parts' pages
        done = threading.Event()

        def upload(session: requests.Session, firm: int) -> None:
            started = time.monotonic()
            try:
                resp = session.post(url + "/parts", files={"files": ("platte.stl", data)},
                                    headers={"Accept": "application/json"}, timeout=120)
                ok = resp.status_code == 201
                body = resp.json() if ok else {}
            except (requests.RequestException, ValueError) as exc:
                ok, body, resp = False, {}, exc
            with lock:
                upload_s.append(time.monotonic() - started)
                if ok:
                    part_urls.setdefault(firm, []).extend(p["url"] for p in body.get("parts", []))
                else:
                    errors.append(f"upload: {getattr(resp, 'status_code', resp)}")

        def reader(session: requests.Session, seed: int) -> None:
            rng = random.Random(seed)
            firm = seed % args.firms  # its user belongs to this firm: its own parts only
            while not done.is_set():
                time.sleep(rng.uniform(0.2, 1.0))  # a person reading, then clicking
                with lock:
                    pages = ["/", "/parts", *part_urls.get(firm, [])]
                path = rng.choice(pages)
                started = time.monotonic()
                try:
                    resp = session.get(url + path, timeout=30)
                    ok = resp.status_code == 200
                except requests.RequestException as exc:
                    ok, resp = False, exc
                with lock:
                    page_s.append(time.monotonic() - started)
                    if not ok:
                        errors.append(f"GET {path}: {getattr(resp, 'status_code', resp)}")

        t0 = time.monotonic()
        threads = [threading.Thread(target=upload, args=(s, n)) for n, s in enumerate(uploaders)]
        threads += [threading.Thread(target=reader, args=(s, i), daemon=True)
                    for i, s in enumerate(readers)]
        for thread in threads:
            thread.start()
        for thread in threads[:args.firms]:
            thread.join()
        uploaded_s = time.monotonic() - t0

        from marketplace import create_app
        from marketplace.extensions import db
        from marketplace.models import Part

        app = create_app()
        ready_s = None
        with app.app_context():
            while time.monotonic() - t0 < args.timeout:
                counts = dict(db.session.execute(
                    db.select(Part.status, db.func.count()).group_by(Part.status)).all())
                db.session.rollback()
                if counts and not counts.get("pending"):
                    ready_s = time.monotonic() - t0
                    break
                time.sleep(0.5)
            done.set()
            rows = db.session.execute(db.select(Part.status, Part.attempts)).all()
        watch.stop.set()
        time.sleep(0.3)
        worker_text = (tmp / "worker.log").read_text(errors="replace")
        analysed = worker_text.count("analysed: ready") + worker_text.count("analysed: error")
        print(f"firms: {args.firms}, page clients: {args.clients}, worker threads: "
              f"{args.workers}, database: {env['DATABASE_URL'].split(':')[0]}, queue: "
              f"{'redis' if args.redis_url else 'sqlite'}")
        print(f"errors: {len(errors)}" + (f" ({', '.join(sorted(set(errors))[:5])})"
                                          if errors else ""))
        print(f"uploads: {len(upload_s)}, p50 {pct(upload_s, 50):.2f} s, "
              f"p95 {pct(upload_s, 95):.2f} s, all stored after {uploaded_s:.1f} s")
        print(f"page loads during the burst: {len(page_s)}, p50 {pct(page_s, 50) * 1000:.0f} ms, "
              f"p95 {pct(page_s, 95) * 1000:.0f} ms, max {max(page_s, default=0) * 1000:.0f} ms")
        statuses = [s for s, _ in rows]
        print(f"parts: {len(rows)} ({statuses.count('ready')} ready, {statuses.count('error')} "
              f"error, {statuses.count('pending')} pending); all done after "
              + (f"{ready_s:.1f} s" if ready_s is not None else "TIMEOUT"))
        print(f"analyses run: {analysed} (worker log), claims: {sum(a for _, a in rows)}, "
              f"parts claimed more than once: {sum(1 for _, a in rows if a > 1)}")
        print(f"peak memory (RSS): web {watch.peak['web'] / 2**20:.0f} MB, worker incl. "
              f"analysis children {watch.peak['worker'] / 2**20:.0f} MB, together "
              f"{watch.peak['total'] / 2**20:.0f} MB")
        good = (not errors and ready_s is not None and pct(page_s, 95) < 0.5
                and statuses.count("ready") == args.firms and analysed == len(rows))
        print("goals met" if good else "goals NOT met")
        return 0 if good else 1
    finally:
        done_procs = []
        for proc in (web, worker):
            try:
                os.killpg(proc.pid, signal.SIGTERM if proc is web else signal.SIGINT)
                done_procs.append(proc)
            except ProcessLookupError:
                pass
        for proc in done_procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        print(f"(logs in {tmp})")


if __name__ == "__main__":
    sys.exit(main())
