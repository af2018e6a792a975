"""Garbage-collector settings for long-running workers.

A poll page makes tens of thousands of short-lived objects (decoded FHIR, task
rows, audit rows). With CPython's default thresholds the collector runs every
700 allocations and, every so often, walks every live object of the process,
Django and its apps included: measured on the poll path, that was a third of
the time. After start-up the worker freezes what it has loaded (those objects
are never garbage) and collects the young generation less often. Memory stays
bounded: cycles are still collected, just in larger batches."""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 20_000
OLDER_THRESHOLDS = (20, 20)


def tune_gc_for_worker() -> None:
    """Call once the process has finished importing and setting up."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *OLDER_THRESHOLDS)
