"""Every page works under the Content-Security-Policy (issue 10): Chromium loads each HTML page
of the URL map as a role that may see it and records every policy violation (the page's
``securitypolicyviolation`` events and the reports sent to ``/csp-report``); there must be none.
"""

from __future__ import annotations

from test_authorization_matrix import (
    ADMIN,
    POLICY,
    PUBLIC,
    STAFF,
    STATIC,
    TOKEN_ONLY,
    _path,
    world,  # noqa: F401  (fixture)
)

from marketplace.accounts import pending
from marketplace.extensions import db

PASSWORD = "pw-12345678"  # make_user's
# not pages: files, JSON, documents, the report endpoint, actions that only take a POST
NOT_PAGES = {"portal.part_mesh", "portal.part_status", "portal.order_status",
             "portal.quote_pdf", "portal.order_pdf", "api.health", "api.hub_printers",
             "api.hub_queue_counts", "ops.livez", "ops.readyz", "ops.metrics_view", "csp_report",
             "portal.logout", "api_docs.openapi_json"}
RECORD = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => window.__csp.push(
  `${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));
"""


def _viewer_role(endpoint: str) -> str:
    policy = POLICY[endpoint]
    if policy is PUBLIC:
        return "anonymous"
    if policy is ADMIN:
        return "admin"
    if policy is STAFF:
        return "technician"
    return "firm_a"


def _sign_in(page, server, email):
    page.goto(f"{server.url}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_load_state("networkidle")


def test_every_page_loads_without_a_policy_violation(app, live_server, browser, world):  # noqa: F811
    users, ids = world
    _row, ids["token_signup"] = pending._new(
        "signup", "neu@example.de", 3600, password_hash="x",
        data={"company": "Neu GmbH", "contact_name": "N. Eu"})
    _row, ids["token_invite"] = pending._new(
        "invite", "kollege@example.de", 3600, firm_id=users["firm_a"].firm_id,
        invited_by_id=users["firm_a"].id, data={"name": "Kollege"})
    db.session.commit()
    emails = {role: user.email for role, user in users.items()}
    pages: dict[str, list[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint in STATIC or rule.endpoint in NOT_PAGES or "GET" not in rule.methods:
            continue
        if POLICY[rule.endpoint] is TOKEN_ONLY:  # the API's JSON: a Bearer token, no pages
            continue
        values = dict(ids)
        if rule.endpoint == "portal.confirm_signup":
            values["token"] = ids["token_signup"]
        elif rule.endpoint == "portal.accept_invitation":
            values["token"] = ids["token_invite"]
        pages.setdefault(_viewer_role(rule.endpoint), []).append(_path(rule, values))
    pages["anonymous"].append("/gibt-es-nicht")  # the error page
    seen, downloads, violations = 0, 0, []
    for role, paths in sorted(pages.items()):
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="de-DE")
        context.set_default_timeout(15_000)
        context.add_init_script(RECORD)
        page = context.new_page()
        if role != "anonymous":
            _sign_in(page, live_server, emails[role])
        for path in sorted(paths):
            # downloads (CSV lists, PDF and XML documents, the data export) are no pages: a
            # request with the page's cookies tells them by their content type
            probe = page.request.get(f"{live_server.url}{path}", max_redirects=0)
            if probe.status < 300 and "text/html" not in probe.headers.get("content-type", ""):
                downloads += 1
                continue
            response = page.goto(f"{live_server.url}{path}")
            assert response is not None and response.status < 500, (path, response.status)
            assert "style-src 'self'" in response.headers.get("content-security-policy", "")
            page.wait_for_load_state("networkidle")
            page.wait_for_timeout(200)  # modules that start after load (the 3D viewer)
            violations += [f"{role} {path}: {v}" for v in page.evaluate("window.__csp")]
            seen += 1
        context.close()
    assert seen >= 20 and downloads >= 1, pages
    assert not violations, "\n".join(violations)
    assert not list(app.extensions["druckhub_csp_reports"])
