"""Queued work on parts: the analysis of an upload, and the reaper that finds lost analyses."""

from __future__ import annotations

from marketplace import taskqueue
from marketplace.parts import operations as parts


@taskqueue.task()
def analyse_part(part_id: int) -> bool:
    """Analyse one part (claims it first: running twice does no harm)."""
    return parts.analyse(part_id)


@taskqueue.periodic
def reap_parts() -> int:
    """Queue again the analyses that a dead worker or a lost message left pending."""
    return parts.reap()
