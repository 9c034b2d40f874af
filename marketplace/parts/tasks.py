"""Queued work on parts: the analysis of an upload, its picture, and the reapers that find
lost work."""

from __future__ import annotations

from marketplace import taskqueue
from marketplace.parts import guests
from marketplace.parts import operations as parts
from marketplace.parts import thumbnails


@taskqueue.task()
def analyse_part(part_id: int) -> bool:
    """Analyse one part (claims it first: running twice does no harm)."""
    return parts.analyse(part_id)


@taskqueue.periodic
def reap_parts() -> int:
    """Queue again the analyses that a dead worker or a lost message left pending."""
    return parts.reap()


@taskqueue.task()
def render_thumbnail(part_id: int) -> bool:
    """Draw the picture of one analysed part (skips one that has it: running twice is fine)."""
    return thumbnails.render(part_id)


@taskqueue.periodic
def reap_thumbnails() -> int:
    """Queue again the pictures a lost message or a dead worker left undrawn."""
    return thumbnails.reap()


@taskqueue.periodic
def expire_guest_parts() -> int:
    """Delete the guests' parts and files whose time is up (GUEST_RETENTION_DAYS)."""
    return guests.expire()
