"""What every page shares: the navigation by role, the CSRF token, safe response headers.

Navigation links are listed here, not decided in the template: a link is shown only if the
signed-in user's role may use it and its endpoint exists (pages are added by several people).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app, flash, redirect, request, url_for
from flask_login import current_user
from flask_login.utils import make_next_param

from marketplace.extensions import login_manager
from marketplace.i18n import N_
from marketplace.i18n import gettext as _

# (endpoint, German label, roles that see it)
NAV_ITEMS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("portal.parts", N_("Teile"), ("firm",)),
    ("portal.cart", N_("Warenkorb"), ("firm",)),
    ("portal.quotes", N_("Angebote"), ("firm",)),
    ("portal.orders", N_("Aufträge"), ("firm",)),
    ("portal.invoices", N_("Rechnungen"), ("firm",)),
    ("hub.queue", N_("Warteschlange"), ("technician", "admin")),
    ("hub.printers", N_("Drucker"), ("technician", "admin")),
    ("hub.dashboard", N_("Übersicht"), ("technician", "admin")),
    ("hub.invoices", N_("Rechnungen"), ("admin",)),
    ("hub.settings", N_("Einstellungen"), ("admin",)),
    ("hub.webhooks", N_("Webhooks"), ("admin",)),
    ("hub.audit", N_("Protokoll"), ("admin",)),
)


@dataclass(frozen=True)
class NavLink:
    endpoint: str
    label: str
    active: bool


def has_endpoint(endpoint: str) -> bool:
    """Return whether a view is registered under ``endpoint``."""
    return endpoint in current_app.view_functions


def nav_links() -> list[NavLink]:
    """Links for the signed-in user's role whose pages exist, the current one marked."""
    if not current_user.is_authenticated:
        return []
    current = request.endpoint or ""
    links = []
    for endpoint, label, roles in NAV_ITEMS:
        if current_user.role in roles and has_endpoint(endpoint):
            blueprint, _sep, name = endpoint.partition(".")
            # a detail page (portal.order_detail) keeps its list (portal.orders) highlighted
            stem = name.rstrip("s")
            active = current == endpoint or (
                current.startswith(f"{blueprint}.{stem}") and len(stem) > 2
            )
            links.append(NavLink(endpoint, _(label), active))
    return links


def home_endpoint(user) -> str:
    """Where a user lands after signing in: their main page, or the start page."""
    wanted = "hub.queue" if user.role in ("technician", "admin") else "portal.parts"
    return wanted if has_endpoint(wanted) else "portal.index"


def init_app(app: Flask) -> None:
    """Register the layout's template helpers, error pages, headers and the e-mail outbox."""
    from marketplace import errors, security_headers
    from marketplace.mail import mailer, notifications

    @app.context_processor
    def _layout_context() -> dict:
        return {
            "nav_links": nav_links,
            "has_endpoint": has_endpoint,
            "hub_name": app.config.get("HUB_NAME", "Druckhub"),
            "dev_mailbox": mailer.dev_mailbox_enabled(app.config),
        }

    errors.init_app(app)
    security_headers.init_app(app)  # before ProxyFix below: it must see the client's scheme
    notifications.init_app(app)
    mailer.init_app(app)
    if app.config.get("PROXY_COUNT"):
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = app.config["PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)


@login_manager.unauthorized_handler
def _unauthorized():
    """Not signed in: JSON 401 for the API and fetch calls, else the sign-in page with next=."""
    from marketplace.errors import error_response, wants_json

    if wants_json():
        return error_response(401)
    flash(_("Bitte melden Sie sich an, um diese Seite zu sehen."), "info")
    login_url = url_for("portal.login")
    return redirect(url_for("portal.login", next=make_next_param(login_url, request.url)))
