"""Queued work for quotes: estimates of grams and print time (they need the mesh)."""

from __future__ import annotations

from marketplace import taskqueue
from marketplace.quotes import operations as quotes


@taskqueue.task()
def make_estimate(estimate_id: int) -> bool:
    """Make one pending estimate (claims it first: running twice does no harm)."""
    return quotes.make_estimate(estimate_id)


@taskqueue.periodic
def reap_estimates() -> int:
    """Queue again the estimates that a dead worker or a lost message left pending."""
    return quotes.reap_estimates()
