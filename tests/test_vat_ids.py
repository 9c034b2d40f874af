"""VAT identification numbers of every EU country (python-stdnum), without a database."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marketplace.accounts.operations import normalise_vat_id, vat_id_problem

pytestmark = pytest.mark.db_independent

VALID = [
    "DE123456788", "DE 136 695 976", "ATU13585627", "BE0776091951", "BG175074752",
    "CY10259033P", "CZ25123891", "DK13585628", "EE100931558", "EL094014201", "GR094014201",
    "ESA13585625", "FI20774740", "FR40303265045", "HR33392005961", "HU12892312",
    "IE6388047V", "IT00743110157", "LT119511515", "LU15027442", "LV40003521600",
    "MT11679112", "NL004495445B01", "PL8567346215", "PT501964843", "RO18547290",
    "SE556188840401", "SI50223054", "SK2022749619", "XI980780684",
    "CHE-116.281.710 MWST", "CHE116281710",
]


@pytest.mark.parametrize("vat_id", VALID)
def test_valid_vat_ids_of_every_eu_country(vat_id):
    assert vat_id_problem(normalise_vat_id(vat_id)) is None


@pytest.mark.parametrize("vat_id,problem", [
    ("DE123456789", "Prüfziffer"),
    ("ATU12345678", "Prüfziffer"),
    ("FR00303265045", "Prüfziffer"),
    ("NL004495446B01", "Prüfziffer"),
    ("IT00743110158", "Prüfziffer"),
    ("PL8567346216", "Prüfziffer"),
    ("ESA13585626", "Prüfziffer"),
    ("CHE116281711", "Prüfziffer"),
    ("DE12345", "Format"),
    ("ATX13585627", "Format"),
    ("NL0044954451", "Format"),
    ("BE07760919510", "Format"),
    ("123456788", "Ländercode"),
    ("US123456789", "Ländercode"),
    ("", "Ländercode"),
])
def test_invalid_vat_ids_say_why(vat_id, problem):
    assert problem in vat_id_problem(normalise_vat_id(vat_id))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["DE", "AT", "EL", "FR", "NL", "IE", "CHE", "XI", "ES"]),
       st.text(max_size=16))
def test_any_text_gets_an_answer_not_an_exception(prefix, rest):
    problem = vat_id_problem(normalise_vat_id(prefix + rest))
    assert problem is None or isinstance(problem, str)
