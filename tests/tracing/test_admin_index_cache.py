"""The admin index's tracing panels are counted at most once a minute per user
(and the PCNs they see), say when they were counted, and never cross from one
user to another (issue 16)."""

from __future__ import annotations

import time

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from hippo_pcn.organisations.models import Membership
from tracing.admin import dashboard

from .helpers import make_task

INDEX = "admin:index"


def _task_queries(captured: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if "tracing_tracingtask" in q["sql"]]


@pytest.fixture(autouse=True)
def _forget_panels(monkeypatch):
    """Each test's kept panels are removed after it (only its own keys: the cache
    is shared, so no cache.clear())."""
    keys: list[str] = []
    original = dashboard.index_panels_cache_key

    def remember(**kwargs):
        key = original(**kwargs)
        keys.append(key)
        return key

    monkeypatch.setattr(dashboard, "index_panels_cache_key", remember)
    yield
    cache.delete_many(keys)


def test_a_second_load_within_the_minute_counts_nothing_again(client_for, pcn_tracer, live_pcn_a):
    make_task(live_pcn_a)
    client = client_for(pcn_tracer)
    with CaptureQueriesContext(connection) as first:
        page = client.get(reverse(INDEX))
    assert _task_queries(first), "the first load counts the PCN's tasks"
    assert [p.open for p in page.context["tracing_panels"]] == [1]
    as_of = timezone.localtime(page.context["tracing_panels_as_of"])
    assert f"Figures as of {as_of:%H:%M}" in page.content.decode()

    make_task(live_pcn_a)
    with CaptureQueriesContext(connection) as second:
        again = client.get(reverse(INDEX))
    assert _task_queries(second) == []
    assert len(second.captured_queries) < len(first.captured_queries)
    # The kept figures, and when they were counted.
    assert [p.open for p in again.context["tracing_panels"]] == [1]
    assert again.context["tracing_panels_as_of"] == page.context["tracing_panels_as_of"]
    # The links go to the live worklist, filtered to the PCN.
    worklist = reverse("admin:tracing_tracingtask_changelist")
    assert f'href="{worklist}?pcn={live_pcn_a.organisation_id}"' in again.content.decode()
    live = client.get(worklist, {"pcn": live_pcn_a.organisation_id})
    assert len(live.context["cl"].result_list) == 2


def test_another_user_never_sees_anothers_panels(
    client_for, pcn_tracer, other_pcn_tracer, pcn_a, pcn_b, live_pcn_a, live_pcn_b
):
    make_task(live_pcn_a)
    first = client_for(pcn_tracer).get(reverse(INDEX))
    assert [p.pcn.ods_code for p in first.context["tracing_panels"]] == [pcn_a.ods_code]
    other = client_for(other_pcn_tracer).get(reverse(INDEX))
    assert [p.pcn.ods_code for p in other.context["tracing_panels"]] == [pcn_b.ods_code]
    assert pcn_a.name not in other.content.decode()
    # The same user seeing another PCN is counted afresh, not served the old set.
    Membership.objects.create(user=pcn_tracer, organisation=pcn_b, role="pcn_tracer")
    both = client_for(pcn_tracer).get(reverse(INDEX))
    assert {p.pcn.ods_code for p in both.context["tracing_panels"]} == {
        pcn_a.ods_code,
        pcn_b.ods_code,
    }
    # Two people who see the same PCNs still have an entry each.
    assert dashboard.index_panels_cache_key(
        user=pcn_tracer, pcn_ids=[pcn_a.pk]
    ) != dashboard.index_panels_cache_key(user=other_pcn_tracer, pcn_ids=[pcn_a.pk])
    # And losing it drops it at once.
    Membership.objects.filter(user=pcn_tracer, organisation=pcn_b).delete()
    after = client_for(pcn_tracer).get(reverse(INDEX))
    assert [p.pcn.ods_code for p in after.context["tracing_panels"]] == [pcn_a.ods_code]


def test_the_figures_are_counted_again_after_the_minute(
    client_for, pcn_tracer, live_pcn_a, monkeypatch
):
    assert dashboard.INDEX_PANELS_CACHE_SECONDS == 60
    monkeypatch.setattr(dashboard, "INDEX_PANELS_CACHE_SECONDS", 1)
    make_task(live_pcn_a)
    client = client_for(pcn_tracer)
    assert [p.open for p in client.get(reverse(INDEX)).context["tracing_panels"]] == [1]
    make_task(live_pcn_a)
    assert [p.open for p in client.get(reverse(INDEX)).context["tracing_panels"]] == [1]
    time.sleep(1.2)  # Redis expires the entry: time travel in Python would not
    with CaptureQueriesContext(connection) as later:
        page = client.get(reverse(INDEX))
    assert _task_queries(later)
    assert [p.open for p in page.context["tracing_panels"]] == [2]


def test_the_index_still_shows_the_panels_when_the_cache_is_down(
    client_for, pcn_tracer, live_pcn_a, monkeypatch
):
    from redis.exceptions import ConnectionError as RedisConnectionError

    class Down:
        def get(self, *args, **kwargs):
            raise RedisConnectionError("Redis is down")

        set = get

    monkeypatch.setattr(dashboard, "cache", Down())
    make_task(live_pcn_a)
    page = client_for(pcn_tracer).get(reverse(INDEX))
    assert page.status_code == 200
    assert [p.open for p in page.context["tracing_panels"]] == [1]
