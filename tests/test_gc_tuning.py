"""The worker's garbage-collector tuning (hippo_pcn/gc_tuning.py)."""

from __future__ import annotations

import gc

from celery.signals import worker_process_init

from hippo_pcn.gc_tuning import OLDER_THRESHOLDS, YOUNG_THRESHOLD, tune_gc_for_worker


def test_tuning_freezes_startup_objects_and_raises_the_young_threshold():
    before = gc.get_threshold()
    try:
        tune_gc_for_worker()
        assert gc.get_threshold() == (YOUNG_THRESHOLD, *OLDER_THRESHOLDS)
        assert gc.get_freeze_count() > 0
        # Garbage cycles are still collected.
        cycle: list[object] = []
        cycle.append(cycle)
        del cycle
        assert gc.collect() >= 1
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_every_pool_process_tunes_its_collector():
    before = gc.get_threshold()
    try:
        worker_process_init.send(sender=None)
        assert gc.get_threshold()[0] == YOUNG_THRESHOLD
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
