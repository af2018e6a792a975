"""The poller reading the next EMIS page while it stores the current one
(hippo_pcn/prefetch.py), on committed data as in production."""

from __future__ import annotations

import threading

import pytest

from hippo_pcn.prefetch import prefetched
from tracing.models import PollRun, TracingTask
from tracing.services import poll_connection

from .helpers import simulate


def test_items_arrive_in_order_and_the_thread_ends():
    before = threading.active_count()
    assert list(prefetched(iter(range(50)))) == list(range(50))
    assert threading.active_count() == before


def test_a_producer_error_reaches_the_consumer_where_it_happened():
    def pages():
        yield 1
        yield 2
        raise RuntimeError("EMIS went away")

    seen = []
    with pytest.raises(RuntimeError, match="EMIS went away"):
        for item in prefetched(pages()):
            seen.append(item)
    assert seen == [1, 2]


def test_stopping_early_stops_and_closes_the_producer():
    closed = threading.Event()
    produced = []

    def pages():
        try:
            for i in range(1_000):
                produced.append(i)
                yield i
        finally:
            closed.set()

    before = threading.active_count()
    for item in prefetched(pages()):
        if item == 3:
            break
    assert closed.wait(5)
    assert len(produced) <= 6  # at most a page or two ahead, never the whole stream
    assert threading.active_count() == before


@pytest.mark.django_db(transaction=True)
def test_a_prefetching_poll_stores_every_appointment_once(pcn_connection, settings):
    settings.TRACING_POLL_PREFETCH = True
    settings.TRACING_POLL_PAGE_SIZE = 7
    simulate(25)
    run = poll_connection(connection=pcn_connection)
    assert (run.status, run.created, run.pages) == ("succeeded", 25, 4)
    assert TracingTask.objects.filter(connection=pcn_connection).count() == 25
    again = poll_connection(connection=pcn_connection)
    assert (again.status, again.created) == ("succeeded", 0)
    assert PollRun.objects.filter(status="failed").count() == 0
