"""The API's interactive documentation (/api/v1/docs) in Chromium under the app's real
Content-Security-Policy: Swagger UI (the vendored copy) renders every operation of the OpenAPI
document, and "Try it out" with a personal access token calls the API from the page."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api_helpers import token_for  # noqa: E402

RECORD = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => window.__csp.push(
  `${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));
"""


def test_docs_render_every_operation_and_try_it_out_works(app, live_server, browser,
                                                          make_user):
    token = token_for(make_user("firm"), "read")
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="de-DE")
    context.set_default_timeout(20_000)
    context.add_init_script(RECORD)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    response = page.goto(f"{live_server.url}/api/v1/docs")
    assert response.status == 200
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_selector(".opblock", state="attached")
    spec = page.request.get(f"{live_server.url}/api/v1/openapi.json").json()
    operations = sum(len([m for m in item if m in ("get", "post", "put", "patch", "delete")])
                     for item in spec["paths"].values())
    assert page.locator(".opblock").count() == operations >= 25
    # authorise with the token, then call GET /api/v1/materials from the page
    page.click("button.authorize")
    page.fill(".modal-ux input", token)
    page.click(".modal-ux button.authorize")
    page.click(".modal-ux button.btn-done")
    block = page.locator("#operations-Materials-list_materials")
    block.locator(".opblock-summary").click()
    block.locator("button.try-out__btn").click()
    block.locator("button.execute").click()
    status = block.locator(".live-responses-table tbody .response-col_status").first
    status.wait_for()
    assert status.inner_text().strip().startswith("200"), block.inner_text()[:3000]
    body = block.locator(".live-responses-table tbody .response-col_description").first
    assert '"code": "PLA"' in body.inner_text()
    assert not page.evaluate("window.__csp"), page.evaluate("window.__csp")
    assert not errors, errors
    assert all(url.startswith(live_server.url) for url in requested), requested  # no CDN
    context.close()
