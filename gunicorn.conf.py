"""gunicorn settings for Druckhub: `gunicorn -c gunicorn.conf.py "marketplace:create_app()"`.

Sized for a 2-core machine: the CPU work (mesh analysis, slicing) runs in the queue's workers,
so the web server only answers requests. Two worker processes with four threads each let a
slow upload or a database wait not block the other requests. Every number can be overridden
from the environment (names below) or on the command line.

Graceful restart: `kill -HUP <master pid>` starts new workers with the new code and lets the
old ones finish their requests (up to ``graceful_timeout``); requests that arrive before a new
worker has booted wait for it (a few seconds), none is refused. `kill -TERM` stops the same way.
"""

import os as _os
import shutil as _shutil
import tempfile as _tempfile

# --- where and how many --------------------------------------------------------------------
bind = [f"{_os.environ.get('HOST', '127.0.0.1')}:{_os.environ.get('PORT', '5000')}"]
workers = int(_os.environ.get("WEB_WORKERS", "2"))
worker_class = "gthread"
threads = int(_os.environ.get("WEB_THREADS", "4"))
# A worker that does not report in for this long is killed and replaced. With threads the
# worker keeps reporting while requests run, so this only catches a worker that is stuck.
timeout = int(_os.environ.get("WEB_TIMEOUT_S", "60"))
graceful_timeout = int(_os.environ.get("WEB_GRACEFUL_TIMEOUT_S", "30"))
keepalive = 5
# New worker processes now and then: a long-running process gives memory back this way.
max_requests = int(_os.environ.get("WEB_MAX_REQUESTS", "1000"))
max_requests_jitter = 100
# Not preloaded: each worker builds its own app (database pools, threads) after the fork.
preload_app = False
if _os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"  # heartbeat files off the disk
# gunicornc's control socket sits at one path per user (~/.gunicorn): two servers on one
# machine would take it from each other. Signals (HUP, TERM, TTIN/TTOU) do the same job.
control_socket_disable = True

# --- logs: JSON lines on stderr, the same format as the app (marketplace/ops/logs.py) ---------
accesslog = "-"
# the message of each access line; the JSON line also carries these fields one by one
access_log_format = '%(h)s "%(r)s" %(s)s %(B)s %(M)sms request_id=%({x-request-id}o)s'
loglevel = _os.environ.get("LOG_LEVEL", "info").lower()


def _logconfig() -> dict:
    from marketplace.ops.logs import dict_config

    return dict_config(_os.environ.get("LOG_LEVEL", "INFO"), gunicorn=True)


logconfig_dict = _logconfig()

# --- Prometheus: every worker writes its figures to files in one directory -------------------
# The directory must be empty when the server starts and be known before any worker imports
# prometheus_client. scripts/run (several processes share it) empties and sets it; without it,
# the server makes a private one here and removes it at exit.
_own_metrics_dir = None
if not _os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    _own_metrics_dir = _tempfile.mkdtemp(prefix="druckhub-metrics-")
    _os.environ["PROMETHEUS_MULTIPROC_DIR"] = _own_metrics_dir
else:
    _os.makedirs(_os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)


def worker_exit(server, worker):
    """A worker has finished its last request: end its process now, with its exit code.

    Python's own teardown of a worker (freeing numpy, scipy, trimesh and the rest) takes 1.5 to
    2 s on this machine, more under load; nothing needs it, and it delays every stop, reload
    and recycled worker (and Ctrl-C under scripts/run, whose process manager waits 20 s).
    """
    import logging
    import sys

    leaving = sys.exc_info()[1]  # gunicorn calls this while the worker's SystemExit unwinds
    if not isinstance(leaving, SystemExit):
        return
    code = leaving.code if isinstance(leaving.code, int) else (0 if leaving.code is None else 1)
    logging.shutdown()  # flush the log lines
    sys.stdout.flush()
    sys.stderr.flush()
    _os._exit(code)


def child_exit(server, worker):
    """A worker ended (restart, crash): drop its live gauges from the figures."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _own_metrics_dir:
        _shutil.rmtree(_own_metrics_dir, ignore_errors=True)
