"""Schemathesis over the whole OpenAPI document of /api/v1 (issue 12): every operation with
generated requests, sent with a firm's token and a hub technician's token, once with the
generated ids and once with ids of real rows (the firm's part, quote, order, the job and a
printer), so the answers cover found objects and not only 404s. Every answer must be no 5xx,
have a documented status and content type, and match its schema (problems included)."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest
import schemathesis
from api_helpers import bearer, token_for
from hypothesis import HealthCheck, given, settings
from portal_helpers import store_part

from schemathesis import GenerationMode

from marketplace.extensions import db
from marketplace.orders import operations as orders
from marketplace.quotes import operations as quotes
from printers import admin as printer_admin

CHECKS = [schemathesis.checks.not_a_server_error, schemathesis.checks.status_code_conformance,
          schemathesis.checks.content_type_conformance,
          schemathesis.checks.response_schema_conformance,
          schemathesis.checks.response_headers_conformance]
MAX_EXAMPLES = 10
# generated requests that follow the document, and requests that break it on purpose
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
STATUSES: Counter = Counter()


@pytest.fixture
def api_world(app, make_user):
    from marketplace.webhooks import endpoints as webhook_endpoints

    firm_user = make_user("firm")
    hook, _secret = webhook_endpoints.create(firm_user.firm, "http://127.0.0.1:9/hook",
                                             ["order.placed"], actor="test")
    part = store_part(firm_user.firm, firm_user)
    quote = quotes.make_quote(part, quantity=2)
    ordered = quotes.make_quote(part, quantity=1)
    order = orders.place_order(ordered, placed_by=firm_user)
    printer = printer_admin.add_printer(name="MK4-API", url="http://127.0.0.1:9",
                                        api_key="Key_0123456789abcdef")
    db.session.commit()
    technician = make_user("technician")
    ids = {"part_id": part.public_id, "quote_id": quote.public_id,
           "order_id": order.public_id, "job_id": order.jobs[0].public_id,
           "printer_id": printer.public_id, "webhook_id": hook.public_id}
    return {"firm": token_for(firm_user, "read,write"),
            "hub": token_for(technician, "read,write,hub"), "ids": ids}


def test_every_operation_answers_as_documented(app, api_world):
    """Each operation of the document gets its own Hypothesis run (Schemathesis strategies;
    its pytest loader does not work with this pytest, so the loop is written out)."""
    api_schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 25
    tried = []
    for operation, mode in itertools.product(operations, MODES):

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case):
            _check(case, api_world)

        run()
        tried.append(operation.label)
    assert len(tried) == len(operations) * len(MODES)
    # the runs reached real objects, not only 404s and 422s
    assert STATUSES[200] > 50 and STATUSES[201] > 0, STATUSES


def _check(case, api_world):
    for who in ("firm", "hub"):
        headers = bearer(api_world[who])
        STATUSES[case.call_and_validate(headers=headers, checks=CHECKS).status_code] += 1
        if case.path_parameters:
            original = case.path_parameters
            case.path_parameters = {name: api_world["ids"].get(name, value)
                                    for name, value in original.items()}
            try:
                STATUSES[case.call_and_validate(headers=headers, checks=CHECKS).status_code] += 1
            finally:
                case.path_parameters = original
