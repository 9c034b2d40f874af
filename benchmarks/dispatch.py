"""Dispatch benchmark on real OctoPrint servers (virtual printers, loopback).

Figures:
1. poll-cycle time of the dispatcher with 3 live printers, and with 3 live + 1 hung printer
   (a proxy that accepts connections and never answers); as a reference measured in the same
   run, the same polls done one printer after the other (what a sequential poller would cost);
2. time from a technician's approval to the printer printing the job (slice, claim, upload,
   verify, select+print, first poll that sees it printing), per job and as median / max.

Usage: .venv/bin/python benchmarks/dispatch.py [--jobs 6] [--cycles 15]
(OCTOPRINT_BIN names OctoPrint's venv binary; default .venv-octoprint/bin/octoprint.)
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import octoprint_farm as farm_mod  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from config import TestConfig  # noqa: E402


def _app(tmp: Path):
    from marketplace import create_app
    from marketplace.extensions import db

    config = {k: getattr(TestConfig, k) for k in dir(TestConfig) if k.isupper()}
    config.update(farm_mod.DISPATCH_TEST_SETTINGS)
    config.update(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp / 'bench.sqlite3'}",
                  UPLOAD_DIR=str(tmp / "uploads"), POLL_DEADLINE_S=2.5,
                  OCTOPRINT_READ_TIMEOUT_S=2.0)
    app = create_app(config)
    ctx = app.app_context()
    ctx.push()
    db.create_all()
    return app, ctx


def _printer(db, url: str, name: str):
    from marketplace.models import Printer

    printer = Printer(name=name, url=url, api_key=farm_mod.API_KEY, material_code="PLA",
                      colour="black", slicer_profile=farm_mod.TEST_PROFILE, state="unknown")
    db.session.add(printer)
    db.session.commit()
    return printer


def _job(db, stl: bytes, n: int):
    from marketplace import jobs
    from marketplace.models import Firm, Order, Part, PrintJob, Quote
    from marketplace.parts import storage

    sha = storage.save(stl)
    firm = db.session.scalar(sa.select(Firm)) or Firm(name="Benchmark GmbH")
    part = Part(firm=firm, original_name=f"bench{n}.stl", sha256=sha, file_format="stl",
                size_bytes=len(stl), units="mm", status="ready")
    quote = Quote(firm=firm, part=part, material_code="PLA", material_g=0.1, print_time_s=40,
                  net_cents=1, vat_cents=0, gross_cents=1, breakdown={})
    order = Order(firm=firm, quote=quote, part=part, number=f"B-{n:05d}")
    db.session.add_all([firm, part, quote, order])
    db.session.flush()
    job = PrintJob(order=order, part=part, material_code="PLA", colour="any")
    jobs.record_created(job, actor="bench")
    db.session.commit()
    return job


def _median(values):
    return statistics.median(values) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=6)
    parser.add_argument("--cycles", type=int, default=15)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="druckhub-bench-"))
    began = time.monotonic()
    servers = farm_mod.start_farm(tmp, 3)
    print(f"3 OctoPrint servers ready in {time.monotonic() - began:.1f} s")
    proxy = farm_mod.FaultProxy(servers[0].port)
    proxy.set_mode("hang")
    try:
        for s in servers:
            s.connect()
        app, ctx = _app(tmp)
        from marketplace import jobs
        from marketplace.extensions import db
        from marketplace.models import JobEvent, Printer, PrintJob, utcnow
        from printers import admin as printer_admin
        from printers.dispatcher import Dispatcher, TickReport
        from printers.farm import poll_farm
        from printers.polling import PollTarget, poll_printer

        live = [_printer(db, s.url, f"Live {i}") for i, s in enumerate(servers, 1)]
        dispatcher = Dispatcher(app.config)
        dispatcher.startup()

        # --- 1. poll-cycle time ---
        def cycles(n):
            times = []
            for _ in range(n):
                t = time.perf_counter()
                poll_farm(dispatcher.poller, TickReport())  # the pass's poll step, DB writes too
                times.append(time.perf_counter() - t)
            return times

        live_only = cycles(args.cycles)
        targets = [PollTarget(p.id, p.name, p.url, p.api_key) for p in live]
        sequential, concurrent = [], []
        for _ in range(args.cycles):
            t = time.perf_counter()
            for target in targets:
                poll_printer(target, dispatcher.settings.timeouts)
            sequential.append(time.perf_counter() - t)
            t = time.perf_counter()
            dispatcher.poller.poll_all(targets)
            concurrent.append(time.perf_counter() - t)
        hung = _printer(db, proxy.url, "Hung")
        with_hung = cycles(args.cycles)
        t = time.perf_counter()
        poll_printer(PollTarget(hung.id, hung.name, hung.url, hung.api_key),
                     dispatcher.settings.timeouts)
        hung_alone = time.perf_counter() - t
        assert db.session.get(Printer, hung.id).state == "unknown"

        print("\n== poll-cycle time (median of %d passes)" % args.cycles)
        print(f"3 live printers, polls only, concurrent: {_median(concurrent) * 1000:8.1f} ms")
        print(f"3 live printers, polls only, one by one: {_median(sequential) * 1000:8.1f} ms"
              "  (reference)")
        print(f"3 live printers, dispatcher poll step:   {_median(live_only) * 1000:8.1f} ms"
              "  (DB writes included)")
        print(f"3 live + 1 hung, dispatcher poll step:   {_median(with_hung) * 1000:8.1f} ms"
              f"  (poll deadline {app.config['POLL_DEADLINE_S']:g} s)")
        print(f"first pass after the printer hung:       {with_hung[0] * 1000:8.1f} ms"
              "  (waits up to the poll deadline once)")
        print(f"the hung printer polled on its own:      {hung_alone * 1000:8.1f} ms"
              f"  (read timeout {app.config['OCTOPRINT_READ_TIMEOUT_S']:g} s)")
        live_ms, seq_ms, hung_ms = _median(live_only), _median(sequential), _median(with_hung)
        print(f"ratio polls concurrent / one by one:     {_median(concurrent) / seq_ms:8.2f}")
        print(f"ratio with hung / live only:             {hung_ms / live_ms:8.2f}")
        print(f"ratio with hung / hung alone:            {_median(with_hung) / hung_alone:8.2f}")

        # --- 2. approval -> printing ---
        sizes = [(6, 6, 2), (10, 10, 3), (15, 15, 3), (20, 20, 5)]
        job_ids = []
        for n in range(args.jobs):
            job = _job(db, farm_mod.box_stl(*sizes[n % len(sizes)]), n)
            job_ids.append(job.id)
        latencies, slicing_s, phases = {}, [], {}
        pending = list(job_ids)
        loop_began = time.monotonic()
        while pending and time.monotonic() - loop_began < 300:
            # approve whatever can start now: one job per free printer, as a technician would
            free = [p for p in db.session.scalars(sa.select(Printer).where(
                Printer.id.in_([x.id for x in live]))) if p.state in ("available",
                                                                      "bed_to_clear")]
            for printer in free:
                if printer.state == "bed_to_clear":
                    printer_admin.confirm_bed_clear(printer, "bench")
            db.session.commit()
            waiting = [j for j in pending if db.session.get(PrintJob, j).state == "received"]
            active = [j for j in pending if db.session.get(PrintJob, j).state != "received"]
            for job_id in waiting[: max(0, len(free) - len(active))]:
                job = db.session.get(PrintJob, job_id)
                jobs.transition(job, "approved", actor="bench", approved_at=utcnow())
                db.session.commit()
            report = dispatcher.tick()
            if report.sliced:
                slicing_s.append(report.tick_s)
            db.session.expire_all()
            for job_id in list(pending):
                events = db.session.scalars(sa.select(JobEvent).where(
                    JobEvent.job_id == job_id).order_by(JobEvent.id)).all()
                approved = next((e.at for e in events if e.to_state == "approved"), None)
                printing = next((e.at for e in events if e.to_state in ("printing", "printed")),
                                None)
                if approved and printing:
                    latencies[job_id] = (printing - approved).total_seconds()
                    at = {}
                    for e in events:
                        at.setdefault(e.to_state, e.at)
                    for name, a, b in (("approved -> sliced and queued", "approved", "queued"),
                                       ("queued -> claimed", "queued", "dispatching"),
                                       ("claimed -> select+print accepted", "dispatching",
                                        "starting")):
                        if a in at and b in at:
                            phases.setdefault(name, []).append((at[b] - at[a]).total_seconds())
                    pending.remove(job_id)
            time.sleep(0.1)
        values = [latencies[j] for j in job_ids if j in latencies]
        print(f"\n== approval -> printing ({len(values)} of {args.jobs} jobs, 3 live printers "
              "+ 1 hung, pass interval 0.1 s)")
        print("per job:                                 "
              + " ".join(f"{v:.2f}" for v in values) + "  s")
        print(f"median:                                  {_median(values):8.2f} s")
        print(f"max:                                     {max(values):8.2f} s")
        for name, times in phases.items():
            print(f"  median {name + ':':<33}{_median(times):8.2f} s")
        dispatcher.close()
        ctx.pop()
    finally:
        proxy.close()
        farm_mod.stop_farm(servers)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
