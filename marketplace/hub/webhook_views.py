"""The hub's own webhook endpoints (admins only): the firm's pages, for endpoints without a firm.

A hub endpoint may receive every event: the hub events and every firm's events.
"""

from __future__ import annotations

from marketplace.auth import admin_required
from marketplace.hub import bp
from marketplace.portal.webhook_views import register_routes

register_routes(bp, "/webhooks", lambda: None, admin_required, "hub/_layout.html")
