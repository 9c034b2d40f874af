"""How long a delivery date takes to compute from the live queue (the portal asks on every
price update). Prints ms per estimate for queues of growing length, and the ratio against an
empty queue measured in the same run.

    .venv/bin/python benchmarks/delivery_estimate.py [--printers 8] [--repeat 20]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--printers", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    from config import TestConfig
    from marketplace import create_app
    from marketplace.extensions import db
    from marketplace.scheduling.live import estimate_delivery
    from tests.hub_factories import make_order, make_printer

    with tempfile.TemporaryDirectory() as tmp:
        config = {k: getattr(TestConfig, k) for k in dir(TestConfig) if k.isupper()}
        config |= {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/bench.sqlite3",
                   "UPLOAD_DIR": f"{tmp}/uploads"}
        app = create_app(config)
        with app.app_context():
            db.create_all()
            for i in range(args.printers):
                make_printer(f"P{i}")
            db.session.commit()

            def measure() -> float:
                start = time.perf_counter()
                for _ in range(args.repeat):
                    estimate_delivery(db.session, print_time_s=7200, quantity=3,
                                      material_code="PLA", bbox_mm=(40, 30, 20))
                return (time.perf_counter() - start) / args.repeat * 1000

            measure()  # warm-up
            reference = measure()
            print(f"printers={args.printers} waiting_jobs=0 ms_per_estimate={reference:.1f}")
            waiting = 0
            for target in (100, 500, 2000):
                while waiting < target:
                    make_order(quantity=5, print_time_s=3600 + waiting * 7)
                    waiting += 5
                db.session.commit()
                ms = measure()
                print(f"printers={args.printers} waiting_jobs={waiting} ms_per_estimate={ms:.1f} "
                      f"ratio_vs_empty={ms / reference:.1f}")


if __name__ == "__main__":
    main()
