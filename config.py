"""Druckhub configuration: every setting in one place, each overridable from the environment.

Usage: ``create_app()`` loads :class:`Config`; tests pass overrides as a mapping.
The quote engine's command line reads the analysis limits from here too (no Flask needed).
"""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _sqlalchemy_url(url: str) -> str:
    """Use the psycopg 3 driver for plain postgres:// URLs."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class Config:
    """Defaults for running the hub locally on the embedded database."""

    # --- core ---
    SECRET_KEY = _env("SECRET_KEY", "")  # empty: create_app uses instance/secret_key
    ENVIRONMENT = _env("DRUCKHUB_ENV", "development")  # "production" requires SECRET_KEY
    # production refuses to start while an account has a demo password; this skips the check
    # for the one command that sets new passwords (`flask set-password EMAIL`)
    SKIP_DEMO_PASSWORD_CHECK = _env_bool("DRUCKHUB_SKIP_DEMO_PASSWORD_CHECK", False)
    DATABASE_URL = _env("DATABASE_URL", f"sqlite:///{BASE_DIR / 'instance' / 'druckhub.sqlite3'}")
    SQLITE_BUSY_TIMEOUT_S = float(_env("SQLITE_BUSY_TIMEOUT_S", "30"))  # wait for the write lock
    SQLALCHEMY_DATABASE_URI = _sqlalchemy_url(DATABASE_URL)
    UPLOAD_DIR = _env("UPLOAD_DIR", str(BASE_DIR / "uploads"))
    DEFAULT_LANGUAGE = _env("DEFAULT_LANGUAGE", "de")
    LANGUAGES = ("de", "en")
    HUB_NAME = _env("HUB_NAME", "Druckhub Lüneburg")
    HUB_TIMEZONE = _env("HUB_TIMEZONE", "Europe/Berlin")
    # the German state whose public holidays close the hub ("NI", "BY", ..., "" none), until the
    # hub settings page saves another
    HUB_HOLIDAY_REGION = _env("HUB_HOLIDAY_REGION", "NI")
    PUBLIC_URL = _env("PUBLIC_URL", "http://127.0.0.1:5000")

    # --- operations: logs, metrics ---
    LOG_LEVEL = _env("LOG_LEVEL", "INFO")  # JSON lines on stderr, every process
    # who may read /metrics (client address, after PROXY_COUNT): loopback and private ranges
    METRICS_ALLOWED_NETWORKS = _env(
        "METRICS_ALLOWED_NETWORKS",
        "127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7")

    # --- sessions and security ---
    # cookies are Secure on every request that came over HTTPS (marketplace.security_headers);
    # this forces it always (default: on when PUBLIC_URL is https)
    SESSION_COOKIE_SECURE = _env_bool("SESSION_COOKIE_SECURE", PUBLIC_URL.startswith("https://"))
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_DURATION = _env_int("REMEMBER_COOKIE_DAYS", 14) * 86400  # "keep me signed in"
    PERMANENT_SESSION_LIFETIME = _env_int("SESSION_LIFETIME_S", 8 * 3600)
    # Only a changed session is sent back. Refreshing the cookie on every request would let a
    # page's background poll (printers board, queue counter, price) answer with the session as
    # it was before a concurrent request popped its flash messages, and bring them back.
    SESSION_REFRESH_EACH_REQUEST = _env_bool("SESSION_REFRESH_EACH_REQUEST", False)
    WTF_CSRF_ENABLED = _env_bool("WTF_CSRF_ENABLED", True)
    HSTS_MAX_AGE_S = _env_int("HSTS_MAX_AGE_S", 365 * 86400)  # production, over HTTPS only
    PASSWORD_RESET_MAX_AGE_S = _env_int("PASSWORD_RESET_MAX_AGE_S", 3600)
    PASSWORD_HASH_METHOD = _env("PASSWORD_HASH_METHOD", "scrypt")  # werkzeug method string
    # reverse proxies in front of the app (0: none); set it so the sign-in limit sees the
    # client's address (X-Forwarded-For) and not the proxy's
    PROXY_COUNT = _env_int("PROXY_COUNT", 0)
    INVITATION_MAX_AGE_S = _env_int("INVITATION_MAX_AGE_S", 7 * 86400)  # a colleague's link
    SIGNUP_CONFIRM_MAX_AGE_S = _env_int("SIGNUP_CONFIRM_MAX_AGE_S", 2 * 86400)  # sign-up's link

    # --- uploads and analysis limits ---
    MAX_CONTENT_LENGTH = _env_int("MAX_UPLOAD_BYTES", 200 * 1024 * 1024)
    MAX_TRIANGLES = _env_int("MAX_TRIANGLES", 5_000_000)
    MAX_UNZIPPED_BYTES = _env_int("MAX_UNZIPPED_BYTES", 512 * 1024 * 1024)
    # a 3MF may unpack to at most this many times its own size (real models: 4-11 times)
    MAX_ZIP_RATIO = _env_int("MAX_ZIP_RATIO", 100)
    MAX_ZIP_MEMBERS = _env_int("MAX_ZIP_MEMBERS", 1000)
    ANALYSIS_TIMEOUT_S = _env_int("ANALYSIS_TIMEOUT_S", 120)
    # the estimate's share of a quote: past this many seconds (counted from the quote's start)
    # the layer estimate gives way to a rough one from the volume (flagged "low")
    QUOTE_TIME_BUDGET_S = _env_int("QUOTE_TIME_BUDGET_S", 15)
    UPLOAD_EXTENSIONS = (".stl", ".3mf", ".obj")
    ANALYSIS_MAX_PENDING_PER_FIRM = _env_int("ANALYSIS_MAX_PENDING_PER_FIRM", 20)  # else 429
    # guests (no account): their parts are deleted this many days after their last upload;
    # at most this many parts per guest (the engine's limits apply as to everyone)
    GUEST_RETENTION_DAYS = _env_float("GUEST_RETENTION_DAYS", 7)
    GUEST_MAX_PARTS = _env_int("GUEST_MAX_PARTS", 10)
    ANALYSIS_MEMORY_MB = _env_int("ANALYSIS_MEMORY_MB", 4096)  # address space of one analysis
    # every analysis runs in a child process with the two limits above; only the tests (which
    # analyse their own small files) may switch that off for speed
    ANALYSIS_SUBPROCESS = _env_bool("ANALYSIS_SUBPROCESS", True)
    DEFAULT_MATERIAL = _env("DEFAULT_MATERIAL", "PLA")  # preselected on the part page
    ORDER_POLL_MS = _env_int("ORDER_POLL_MS", 5000)  # order page refreshes its status this often
    # build volumes of the hub's printers, "XxYxZ" in mm separated by ";" (analysis fit check)
    PRINTER_BUILD_VOLUMES_MM = _env("PRINTER_BUILD_VOLUMES_MM", "250x210x210")
    NOZZLE_MM = _env_float("NOZZLE_MM", 0.4)  # thinnest printable wall in the analysis

    # --- e-mail (SMTP) ---
    SMTP_HOST = _env("SMTP_HOST", "")  # empty: mails are logged, not sent
    # development only (scripts/run sets it): without SMTP_HOST, /dev/mailbox shows the outbox's
    # mails (sign-up links ...); never registered under DRUCKHUB_ENV=production
    DEV_MAILBOX = _env_bool("DEV_MAILBOX", False)
    SMTP_PORT = _env_int("SMTP_PORT", 25)
    SMTP_USER = _env("SMTP_USER", "")
    SMTP_PASSWORD = _env("SMTP_PASSWORD", "")
    SMTP_STARTTLS = _env_bool("SMTP_STARTTLS", False)
    SMTP_SENDER = _env("SMTP_SENDER", "Druckhub Lüneburg <druckhub@localhost>")
    SMTP_TIMEOUT_S = _env_float("SMTP_TIMEOUT_S", 10.0)
    SMTP_SSL = _env_bool("SMTP_SSL", False)  # implicit TLS (port 465)
    MAIL_MAX_ATTEMPTS = _env_int("MAIL_MAX_ATTEMPTS", 6)
    MAIL_RETRY_BASE_S = _env_int("MAIL_RETRY_BASE_S", 60)  # back-off: 1, 2, 4, 8 ... minutes
    # after a commit that wrote mails: "queue" (a task per mail) or "off" (`flask mail send` and
    # the workers' periodic pass send them)
    MAIL_SEND_AFTER_COMMIT = _env("MAIL_SEND_AFTER_COMMIT", "queue")
    # an order's progress mails (approved, printing, printed) wait this long; one that a later
    # step's mail overtakes meanwhile is not sent (approved and printing in the same minute:
    # one mail). 0: sent at once
    MAIL_PROGRESS_HOLD_S = _env_int("MAIL_PROGRESS_HOLD_S", 120)

    # --- sign-in rate limit (failed attempts, counted in the database) ---
    LOGIN_MAX_FAILURES = _env_int("LOGIN_MAX_FAILURES", 5)  # per client IP and account
    LOGIN_MAX_FAILURES_PER_IP = _env_int("LOGIN_MAX_FAILURES_PER_IP", 30)  # any account
    LOGIN_FAILURE_WINDOW_S = _env_int("LOGIN_FAILURE_WINDOW_S", 15 * 60)
    PASSWORD_RESET_MAILS_PER_HOUR = _env_int("PASSWORD_RESET_MAILS_PER_HOUR", 3)

    # --- task queue (Huey; `flask --app marketplace worker` runs the tasks) ---
    REDIS_URL = _env("REDIS_URL", "")
    HUEY_STORAGE = _env("HUEY_STORAGE", "")  # sqlite|redis|memory; empty: redis with REDIS_URL
    HUEY_SQLITE_PATH = _env("HUEY_SQLITE_PATH", str(BASE_DIR / "instance" / "huey.sqlite3"))
    HUEY_NAME = _env("HUEY_NAME", "druckhub")  # the queue's name in its storage
    HUEY_IMMEDIATE = _env_bool("HUEY_IMMEDIATE", False)  # run tasks where queued (tests)
    TASK_LEASE_S = _env_int("TASK_LEASE_S", 60)  # a working task renews it every third of this
    TASK_MAX_ATTEMPTS = _env_int("TASK_MAX_ATTEMPTS", 3)  # claims before a row ends as an error
    TASK_REQUEUE_AFTER_S = _env_int("TASK_REQUEUE_AFTER_S", 300)  # queued, never started
    REAPER_INTERVAL_S = _env_int("REAPER_INTERVAL_S", 60)  # workers look for lost work this often

    # --- webhooks (Standard Webhooks, sent by the task queue) ---
    # loopback addresses and plain http allowed (tests, development); ignored in production
    WEBHOOKS_ALLOW_LOOPBACK = _env_bool("WEBHOOKS_ALLOW_LOOPBACK", False)
    WEBHOOKS_CONNECT_TIMEOUT_S = _env_float("WEBHOOKS_CONNECT_TIMEOUT_S", 5.0)
    WEBHOOKS_TIMEOUT_S = _env_float("WEBHOOKS_TIMEOUT_S", 15.0)  # per read; the answer as a whole
    WEBHOOKS_MAX_RESPONSE_BYTES = _env_int("WEBHOOKS_MAX_RESPONSE_BYTES", 64 * 1024)  # read
    WEBHOOKS_LOG_BODY_CHARS = _env_int("WEBHOOKS_LOG_BODY_CHARS", 2000)  # kept per try
    # tries of one delivery and the back-off base: 1, 2, 4 ... 2048 minutes (±25 %), about
    # 2.8 days from the first try to the last; then the delivery failed (and its endpoint is
    # disabled if nothing got through since)
    WEBHOOKS_MAX_ATTEMPTS = _env_int("WEBHOOKS_MAX_ATTEMPTS", 13)
    WEBHOOKS_RETRY_BASE_S = _env_float("WEBHOOKS_RETRY_BASE_S", 60.0)
    WEBHOOKS_SECRET_OVERLAP_S = _env_int("WEBHOOKS_SECRET_OVERLAP_S", 24 * 3600)  # rotation
    WEBHOOKS_KEEP_DAYS = _env_int("WEBHOOKS_KEEP_DAYS", 30)  # messages and their tries' log

    # --- request rate limits (Flask-Limiter; "N/minute|hour|day", several joined by ";") ---
    # counted in Redis (REDIS_URL) or else in the database, shared by every worker process
    RATELIMIT_ENABLED = _env_bool("RATELIMIT_ENABLED", True)
    RATELIMIT_STORAGE_URI = _env("RATELIMIT_STORAGE_URI", "")  # empty: REDIS_URL or database
    LIMIT_SIGNUP_PER_IP = _env("LIMIT_SIGNUP_PER_IP", "10/hour")
    LIMIT_SIGNUP_PER_EMAIL = _env("LIMIT_SIGNUP_PER_EMAIL", "3/hour")
    LIMIT_INVITE_PER_FIRM = _env("LIMIT_INVITE_PER_FIRM", "20/day")
    LIMIT_INVITE_PER_EMAIL = _env("LIMIT_INVITE_PER_EMAIL", "3/day")
    LIMIT_RESET_PER_IP = _env("LIMIT_RESET_PER_IP", "10/hour")
    LIMIT_RESET_PER_EMAIL = _env("LIMIT_RESET_PER_EMAIL", "5/hour")
    LIMIT_UPLOAD_PER_FIRM = _env("LIMIT_UPLOAD_PER_FIRM", "120/hour")
    LIMIT_UPLOAD_PER_IP = _env("LIMIT_UPLOAD_PER_IP", "240/hour")
    LIMIT_GUEST_UPLOAD_PER_IP = _env("LIMIT_GUEST_UPLOAD_PER_IP", "30/hour;100/day")  # no account
    LIMIT_PRICE_PER_FIRM = _env("LIMIT_PRICE_PER_FIRM", "60/minute;1000/hour")
    LIMIT_PRICE_PER_IP = _env("LIMIT_PRICE_PER_IP", "120/minute")
    # the public API (/api/v1), per personal access token (without a valid token: per address)
    LIMIT_API_PER_TOKEN = _env("LIMIT_API_PER_TOKEN", "300/minute")
    IDEMPOTENCY_KEEP_S = _env_int("IDEMPOTENCY_KEEP_S", 24 * 3600)  # Idempotency-Key answers

    # --- slicing ---
    # "worker": a task worker slices each approved job ahead of the dispatcher;
    # "dispatcher": the dispatcher's pass slices (tests that drive a dispatcher by hand)
    SLICING = _env("SLICING", "worker")
    PRUSA_SLICER_BIN = _env("PRUSA_SLICER_BIN", "prusa-slicer")
    SLICER_PROFILE_DIR = _env("SLICER_PROFILE_DIR", str(BASE_DIR / "printers" / "profiles"))
    SLICER_TIMEOUT_S = _env_int("SLICER_TIMEOUT_S", 600)
    # the price lock: slicer vs quote beyond these shares sends the job to a technician
    SLICER_DIFF_THRESHOLD = _env_float("SLICER_DIFF_THRESHOLD", 0.25)  # grams (and time)
    SLICER_TIME_DIFF_THRESHOLD = _env("SLICER_TIME_DIFF_THRESHOLD", "")  # time; "" = as grams

    # --- dispatcher and OctoPrint ---
    # Fernet keys for the printers' API keys at rest, newest first, comma-separated (empty: a
    # key derived from SECRET_KEY); rotate with `flask printers new-key` / `rotate-keys`
    PRINTER_KEY_SECRETS = _env("PRINTER_KEY_SECRETS", "")
    DISPATCH_INTERVAL_S = _env_float("DISPATCH_INTERVAL_S", 5.0)
    OCTOPRINT_CONNECT_TIMEOUT_S = _env_float("OCTOPRINT_CONNECT_TIMEOUT_S", 3.0)
    OCTOPRINT_READ_TIMEOUT_S = _env_float("OCTOPRINT_READ_TIMEOUT_S", 5.0)
    OCTOPRINT_UPLOAD_TIMEOUT_S = _env_float("OCTOPRINT_UPLOAD_TIMEOUT_S", 120.0)
    DISPATCH_LEASE_S = _env_int("DISPATCH_LEASE_S", 120)
    COMPLETION_CONFIRM_POLLS = _env_int("COMPLETION_CONFIRM_POLLS", 2)
    PRINTER_STALE_AFTER_S = _env_int("PRINTER_STALE_AFTER_S", 30)
    POLL_DEADLINE_S = _env_float("POLL_DEADLINE_S", 4.0)  # a pass waits no longer for polls
    SEND_WAIT_S = _env_float("SEND_WAIT_S", 10.0)  # a pass waits this long for its uploads
    SLICE_BUDGET_S = _env_float("SLICE_BUDGET_S", 60.0)  # no new slicing after this in a pass
    START_GRACE_S = _env_float("START_GRACE_S", 20.0)  # started but not printing: ask again
    DISPATCH_RETRY_BASE_S = _env_float("DISPATCH_RETRY_BASE_S", 5.0)  # printer back-off base
    DEFAULT_SLICER_PROFILE = _env("DEFAULT_SLICER_PROFILE", "mk3s-pla-0.2mm")


class TestConfig(Config):
    """Settings for the test suite; the fixtures add a temporary database and upload dir."""

    TESTING = True
    WTF_CSRF_ENABLED = False
    SECRET_KEY = "test-secret-key"
    HUEY_IMMEDIATE = True  # tasks run when queued, so tests see the result at once
    HUEY_STORAGE = "memory"  # a test that turns immediate mode off gets an in-process queue
    SLICING = "dispatcher"  # the dispatcher tests tick by hand; the queue tests say "worker"
    MAIL_PROGRESS_HOLD_S = 0  # mails are sent when the test sends them (its own test holds)
    ANALYSIS_SUBPROCESS = False  # the tests' own small files, analysed in this process
    PASSWORD_HASH_METHOD = "pbkdf2:sha256:1000"  # fast hashes keep the suite quick (tests only)
    # tests drive the price and upload views hard (property tests, many uploads in one test);
    # the limits' own tests set small ones
    LIMIT_PRICE_PER_FIRM = LIMIT_PRICE_PER_IP = "100000/minute"
    LIMIT_UPLOAD_PER_FIRM = LIMIT_UPLOAD_PER_IP = LIMIT_GUEST_UPLOAD_PER_IP = "100000/hour"
    LIMIT_API_PER_TOKEN = "100000/minute"
    # counted in the app's memory (one per test); the database storage commits on a connection
    # of its own, which a rolled-back test cannot imitate: tests/test_limits.py uses it
    RATELIMIT_STORAGE_URI = "memory://"
    WEBHOOKS_ALLOW_LOOPBACK = True  # the tests' receivers listen on 127.0.0.1
