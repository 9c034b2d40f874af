"""Headers (issue 10, finding 7): a strict Content-Security-Policy on every page (no inline
script or style in any template), HSTS and Permissions-Policy, Secure cookies behind HTTPS."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from marketplace import create_app

TEMPLATES = Path(__file__).resolve().parents[1] / "marketplace" / "templates"
PASSWORD = "richtiges-pw-1"


def test_every_page_has_a_strict_policy(client):
    response = client.get("/login")
    policy = response.headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert re.fullmatch(r"'self' 'nonce-[\w-]{16,}'", directives["script-src"])
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert directives["object-src"] == "'none'" and directives["frame-ancestors"] == "'self'"
    assert "camera=()" in response.headers["Permissions-Policy"]
    other = client.get("/login").headers["Content-Security-Policy"]
    assert other != policy  # a new nonce per response
    assert client.get("/gibt-es-nicht").headers["Content-Security-Policy"]


def test_no_template_has_inline_style_or_script():
    offenders = []
    for path in TEMPLATES.rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        for pattern in (r"\sstyle=", r"<style", r"\son[a-z]+=\""):
            offenders += [f"{path.relative_to(TEMPLATES)}: {m.group(0)}"
                          for m in re.finditer(pattern, text)]
        for tag in re.findall(r"<script\b[^>]*>", text):
            if "src=" not in tag and "csp_nonce()" not in tag:
                offenders.append(f"{path.relative_to(TEMPLATES)}: {tag}")
    assert not offenders, offenders


def test_nonce_of_the_page_is_the_nonce_of_its_scripts(app, client, make_user, login_as):
    from portal_helpers import store_part

    user = make_user("firm")
    part = store_part(user.firm, user)
    login_as(user)
    response = client.get(f"/parts/{part.public_id}")
    nonce = re.search(r"'nonce-([\w-]+)'", response.headers["Content-Security-Policy"]).group(1)
    page = response.get_data(as_text=True)
    assert f'<script type="importmap" nonce="{nonce}">' in page


@pytest.mark.commits
def test_hsts_only_in_production_over_https(app_config, make_user):
    https = "https://localhost"
    dev = create_app(app_config).test_client()
    assert "Strict-Transport-Security" not in dev.get("/login", base_url=https).headers
    prod = create_app({**app_config, "ENVIRONMENT": "production"}).test_client()
    assert "Strict-Transport-Security" not in prod.get("/login").headers  # plain HTTP
    assert "max-age=31536000" in prod.get("/login", base_url=https).headers[
        "Strict-Transport-Security"]


@pytest.mark.commits  # a second app
@pytest.mark.parametrize("behind_proxy", [False, True])
def test_cookies_are_secure_over_https(app_config, make_user, behind_proxy):
    make_user("firm", email="kunde@example.de", password=PASSWORD)
    app = create_app({**app_config, "PROXY_COUNT": 1 if behind_proxy else 0,
                      "SESSION_COOKIE_SECURE": False, "REMEMBER_COOKIE_SECURE": False})
    client = app.test_client()
    form = {"email": "kunde@example.de", "password": PASSWORD, "remember": "y"}
    plain = client.post("/login", data=form)
    assert not any("Secure" in c for c in plain.headers.getlist("Set-Cookie"))
    client = app.test_client()
    over_https = ({"headers": {"X-Forwarded-Proto": "https"}} if behind_proxy
                  else {"base_url": "https://localhost"})
    secure = client.post("/login", data=form, **over_https)
    cookies = secure.headers.getlist("Set-Cookie")
    assert {c.split("=")[0] for c in cookies} >= {"session", "remember_token"}
    assert all("; Secure" in c for c in cookies), cookies


def test_public_url_with_https_makes_cookies_secure_by_default(monkeypatch):
    import importlib

    import config

    monkeypatch.setenv("PUBLIC_URL", "https://druckhub.example")
    try:
        reloaded = importlib.reload(config)
        assert reloaded.Config.SESSION_COOKIE_SECURE and reloaded.Config.REMEMBER_COOKIE_SECURE
    finally:
        monkeypatch.undo()
        importlib.reload(config)


def test_violation_reports_are_taken_and_logged(app, client, caplog):
    report = b'{"csp-report": {"violated-directive": "style-src"}}'
    response = client.post("/csp-report", data=report,
                           content_type="application/csp-report")
    assert response.status_code == 204
    assert "style-src" in caplog.text
    assert list(app.extensions["druckhub_csp_reports"]) == [report]
