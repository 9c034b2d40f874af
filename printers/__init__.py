"""Talking to the printers: OctoPrint adapter, slicing, and the dispatcher.

- ``octoprint``: typed, timed adapter over octorest, errors mapped to our exceptions.
- ``slicing``: PrusaSlicer command line with the profiles in ``profiles/``; G-code by content hash.
- ``dispatcher``: ``Dispatcher.tick()`` (one pass) and ``run()``, over small units: ``farm``
  (poll and write printer states), ``following`` (reconcile jobs on printers), ``dispatching``
  (match, claim, send, apply the outcome), ``preparing`` (``slice_job(job_id)``: slice and
  queue); pure policy in ``matching`` and ``reconcile``, network steps in ``polling`` and
  ``sending``, the per-job commit-or-roll-back step in ``steps``, settings read once in
  ``settings``, the single-dispatcher guard in ``guard``.
- ``control``: pause, resume, cancel from the console. ``cli``: ``printers`` and ``dispatcher``.
"""
