"""The README's API examples run as written against a live hub (issue 12): the curl script
(bash, curl, jq) and the Python script (requests) upload a part, price it, quote it and order
it. Only the hub's address and the token are put in; the Python example's "follow until
printed" loop is left out (no printer prints here: the dispatcher tests do that)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa
from api_helpers import token_for
from portal_helpers import cube_stl

from marketplace.extensions import db
from marketplace.models import Order

README = Path(__file__).resolve().parents[1] / "README.md"


def _block(language: str, after: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(after)
    match = re.compile(rf"```{language}\n(.*?)```", re.S).search(text, start)
    assert match, f"no {language} block after {after!r}"
    return match.group(1)


def test_the_readme_curl_and_python_examples_order_a_part(app, live_server, make_user,
                                                           tmp_path):
    user = make_user("firm")
    token = token_for(user, "read,write")
    (tmp_path / "halter.stl").write_bytes(cube_stl(15))
    shell = _block("sh", "Upload, price and order with curl")
    shell = shell.replace("HUB=http://127.0.0.1:5000", f"HUB={live_server.url}")
    shell = re.sub(r"TOKEN=\$\(flask [^\n]*\)", f"TOKEN={token}", shell)
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", shell], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert '"state": "received"' in done.stdout and '"number": "DH-' in done.stdout
    assert (tmp_path / "auftrag.pdf").read_bytes().startswith(b"%PDF")

    python = _block("python", "The same in Python")
    python = python.replace('"http://127.0.0.1:5000/api/v1"', f'"{live_server.url}/api/v1"')
    python = python.replace('"Bearer dhp_..."', f'"Bearer {token}"')
    python = python[:python.index("while order[\"state\"] not in")]
    done = subprocess.run([sys.executable, "-c", python], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "printable: True" in done.stdout and re.search(r"DH-\d{4}-\d{6} received",
                                                          done.stdout), done.stdout
    db.session.remove()
    orders = db.session.scalars(sa.select(Order)).all()
    assert len(orders) == 2 and {o.reference for o in orders} == {"PO-4711"}
    assert {o.delivery for o in orders} == {"shipping"} and {o.channel for o in orders} == {"api"}
