"""The hub's legal pages, public and linked from every page's footer: Impressum (from the
hub's address and legal details, § 5 DDG), Datenschutz and AGB (the hub's own texts,
Einstellungen → Rechtstexte; every wording of the AGB stays readable under its version)."""

from __future__ import annotations

from flask import abort, render_template, url_for
from flask_login import current_user

from marketplace.i18n import gettext as _
from marketplace.portal import bp
from marketplace.settings import operations as settings


def blocks(text: str) -> list[tuple[str, str]]:
    """Split a plain legal text (as stored: "\\n" line ends) into ("h2" | "h3" | "p", text)
    blocks: paragraphs are separated by blank lines, a paragraph starting with "## " ("### ")
    is a heading."""
    out: list[tuple[str, str]] = []
    for para in text.split("\n\n"):
        para = para.strip()
        if not para:
            continue
        for mark, tag in (("### ", "h3"), ("## ", "h2")):
            if para.startswith(mark):
                heading, _sep, rest = para[len(mark):].partition("\n")
                out.append((tag, heading.strip()))
                if rest.strip():
                    out.append(("p", rest.strip()))
                break
        else:
            out.append(("p", para))
    return out


def _is_admin() -> bool:
    return bool(current_user.is_authenticated and current_user.role == "admin")


# what § 5 DDG asks of a company's site (the bank details of the invoices are not among it)
IMPRINT_FIELDS = ("legal_name", "street", "postcode", "city", "managing_director", "phone",
                  "email", "register_court", "register_number", "vat_id")


@bp.get("/impressum")
def imprint():
    address, legal = settings.get_hub_address(), settings.get_hub_legal()
    missing = [_(label) for label in settings.missing_legal_details(
        {**address, **legal}, IMPRINT_FIELDS)] if _is_admin() else []
    return render_template("portal/imprint.html", address=address, legal=legal,
                           missing=missing)


def _text_page(title: str, text: str, *, since: str | None = None,
               superseded_by: str | None = None):
    return render_template("portal/legal_text.html", title=title, blocks=blocks(text),
                           since=since, superseded_by=superseded_by, admin=_is_admin())


@bp.get("/datenschutz")
def privacy():
    return _text_page(_("Datenschutzerklärung"), settings.get_legal_texts()["privacy"])


@bp.get("/agb")
def terms():
    texts = settings.get_legal_texts()
    return _text_page(_("Allgemeine Geschäftsbedingungen"), texts["terms"],
                      since=texts["terms_since"])


@bp.get("/agb/<version>")
def terms_version(version):
    """A wording of the terms an order was placed under (also after they changed)."""
    found = settings.terms_version_text(version)
    if found is None:
        abort(404)
    current = settings.current_terms_version()
    return _text_page(_("Allgemeine Geschäftsbedingungen"), found["text"], since=found["since"],
                      superseded_by=url_for("portal.terms") if current not in (None, version)
                      else None)
