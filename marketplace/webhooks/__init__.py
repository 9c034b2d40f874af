"""Outbound webhooks (Standard Webhooks): firms and the hub register HTTPS endpoints for events.

The one list of event types is here. An event is written to the outbox (``outbox.emit``) in
the transaction of the change it reports, so a rolled-back change sends nothing; the task queue
delivers it after the commit (``delivery``), signs it (``signing``), retries with back-off and
logs every try; ``transport`` refuses private, loopback and link-local addresses.
"""

from __future__ import annotations

from marketplace.i18n import N_

# type -> what it means (German, translated in the pages)
FIRM_EVENTS: dict[str, str] = {
    "part.analysed": N_("Ein Teil ist geprüft (druckbar oder mit Fehler)."),
    "quote.created": N_("Ein Angebot wurde erstellt."),
    "order.placed": N_("Ein Auftrag wurde erteilt."),
    "order.status_changed": N_("Der Stand eines Auftrags hat sich geändert."),
    "order.shipped": N_("Ein Auftrag wurde versendet."),
    "invoice.issued": N_("Eine Rechnung oder Stornorechnung wurde ausgestellt."),
}
HUB_EVENTS: dict[str, str] = {
    "job.needs_attention": N_("Ein Druckjob muss geprüft werden."),
    "printer.state_changed": N_("Ein Drucker hat seinen Zustand geändert."),
}
EVENTS: dict[str, str] = {**FIRM_EVENTS, **HUB_EVENTS}


def events_for(firm_id: int | None) -> dict[str, str]:
    """The event types an endpoint of a firm (or of the hub, ``firm_id`` None) may receive."""
    return FIRM_EVENTS if firm_id is not None else EVENTS
