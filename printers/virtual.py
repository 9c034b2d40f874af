"""Virtual printers: OctoPrint servers running OctoPrint's bundled virtual printer.

The demo (scripts/run) and the tests start them the same way: OctoPrint 1.11 in its own venv
(it pins an older Flask), bound to 127.0.0.1, one base directory each, headless (no wizard, no
outbound traffic, no simulated serial errors) and one admin user whose API key is written into
``users.yaml``, where the hub reads it back. Facts behind the settings:
../shared/recipes/octoprint/NOTES.md.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import yaml

ADMIN_USER = "admin"
# OctoPrint's command: its own venv beside the project's (scripts/install.sh --demo or --test)
OCTOPRINT_BIN = os.environ.get(
    "OCTOPRINT_BIN", str(Path(__file__).resolve().parents[1] / ".venv-octoprint" / "bin" / "octoprint"))


def octoprint_config(port: int) -> dict:
    """Return the OctoPrint config.yaml content for a headless, loopback-only server."""
    return {
        "server": {
            "host": "127.0.0.1",
            "port": port,
            "firstRun": False,
            "onlineCheck": {"enabled": False},
            "pluginBlacklist": {"enabled": False},
            "pythonEolCheck": {"enabled": False},
            "ipCheck": {"enabled": False},
        },
        "accessControl": {"autologinLocal": False},
        "api": {"allowCrossOrigin": False},
        "serial": {
            "port": "VIRTUAL",
            "baudrate": 115200,
            "autoconnect": False,  # the dispatcher connects printers that are up but not connected
            "log": False,
            "blacklistedPorts": ["/dev/*"],  # never list or probe the host's real serial ports
            "timeout": {"connection": 5.0, "detectionFirst": 2.0},
        },
        "devel": {
            "webassets": {"clean_on_startup": False},
            "cache": {"preemptive": False},
            "enableRateLimiter": False,
        },
        "plugins": {
            "_disabled": [
                "announcements", "tracking", "softwareupdate", "pluginmanager", "discovery",
                "errortracking", "achievements", "firmware_check", "pi_support", "health_check",
            ],
            "virtual_printer": {
                "enabled": True,
                "simulateReset": True,
                "sendWait": True,
                "waitInterval": 1.0,
                "okAfterResend": False,
                "resend_ratio": 0,
                "simulated_errors": [],  # the defaults force resends on lines 100-115
                "capabilities": {
                    "AUTOREPORT_TEMP": True, "AUTOREPORT_SD_STATUS": True, "EMERGENCY_PARSER": True,
                },
            },
        },
    }


def read_api_key(basedir: Path) -> str | None:
    """The admin's API key from ``basedir/users.yaml``, or None if there is none yet."""
    users = Path(basedir) / "users.yaml"
    if not users.exists():
        return None
    data = yaml.safe_load(users.read_text()) or {}
    return (data.get(ADMIN_USER) or {}).get("apikey") or None


def write_api_key(basedir: Path, api_key: str) -> None:
    """Give the admin user ``api_key`` (OctoPrint keeps user keys in users.yaml)."""
    users = Path(basedir) / "users.yaml"
    data = yaml.safe_load(users.read_text())
    data[ADMIN_USER]["apikey"] = api_key
    users.write_text(yaml.safe_dump(data))


def set_up(basedir: Path, port: int, octoprint_bin: str, *, timeout_s: float = 120) -> str:
    """Make ``basedir`` a server's home once (config, admin user, API key); return the key.

    A base directory that has its key already is kept as it is (its files, its print history);
    the port is given on the command line at each start.
    """
    basedir = Path(basedir)
    key = read_api_key(basedir)
    if key:
        return key
    basedir.mkdir(parents=True, exist_ok=True)
    (basedir / "config.yaml").write_text(yaml.safe_dump(octoprint_config(port)))
    subprocess.run(
        [octoprint_bin, "--basedir", str(basedir), "user", "add", "--password",
         secrets.token_urlsafe(18), "--admin", ADMIN_USER],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=timeout_s,
    )
    key = secrets.token_hex(16).upper()
    write_api_key(basedir, key)
    return key


def serve_command(basedir: Path, port: int, octoprint_bin: str) -> list[str]:
    """The command line that runs the server for ``basedir`` on 127.0.0.1:``port``."""
    # OctoPrint refuses to run as root unless told; it binds loopback only here
    return [octoprint_bin, "serve", "--basedir", str(basedir), "--host", "127.0.0.1",
            "--port", str(port), "--iknowwhatimdoing"]


if __name__ == "__main__":
    # Procfile: `python -m printers.virtual serve BASEDIR PORT` becomes the OctoPrint server
    if len(sys.argv) != 4 or sys.argv[1] != "serve":
        sys.exit("usage: python -m printers.virtual serve BASEDIR PORT")
    command = serve_command(Path(sys.argv[2]), int(sys.argv[3]), OCTOPRINT_BIN)
    os.execv(command[0], command)
