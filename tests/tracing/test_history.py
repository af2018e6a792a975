"""A task history people can read (issue 14, part 4): plain English, local
(Europe/London) times, tasks named by patient and appointment, and names rather
than links to pages the reader cannot open."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.urls import reverse

from hippo_pcn.audit.services import audit_record, system_actor
from tracing.history import (
    SENTENCES,
    history_line,
    tracing_task_history_lines,
    tracing_task_title,
)
from tracing.models import PolicyMode, TracingPolicy
from tracing.services.actions import (
    tracing_task_cannot_trace,
    tracing_task_claim,
    tracing_task_mark_traced,
    tracing_task_release,
)

from .helpers import make_task

WINTER = datetime(2026, 12, 1, 9, 14, tzinfo=UTC)  # GMT: 09:14 in London
SUMMER = datetime(2026, 7, 1, 8, 14, tzinfo=UTC)  # BST: 09:14 in London


def change_url(task):
    return reverse("admin:tracing_tracingtask_change", args=[task.pk])


def named(user, first, last):
    user.first_name, user.last_name = first, last
    user.save(update_fields=["first_name", "last_name"])
    return user


@pytest.fixture
def taylor(pcn_tracer):
    return named(pcn_tracer, "Taylor", "Hillside")


@pytest.fixture
def sam(support_user):
    return named(support_user, "Sam", "Support")


@pytest.fixture
def task(live_pcn_a, practice_a):
    return make_task(
        live_pcn_a,
        patient_given_name="Mary",
        patient_family_name="Smith",
        appointment_start=datetime(2026, 12, 3, 10, 30, tzinfo=UTC),
        site_name="Alpha Hub",
        booking_organisation=practice_a,
    )


def lines(task):
    return [line.text for line in tracing_task_history_lines(task=task)]


# --- times and names -------------------------------------------------------------------------


def test_history_times_are_london_time_in_summer_and_winter(task, taylor):
    with time_machine.travel(SUMMER, tick=False):
        tracing_task_claim(task=task, user=taylor)
    with time_machine.travel(WINTER, tick=False):
        tracing_task_release(task=task, user=taylor)
    assert lines(task) == [
        "Taylor Hillside claimed this, Wed 1 Jul 09:14",
        "Taylor Hillside released this, Tue 1 Dec 09:14",
    ]


def test_a_task_is_named_by_patient_and_appointment(task, live_pcn_a):
    assert tracing_task_title(task=task) == "Mary SMITH — Thu 3 Dec 10:30 at Alpha Hub"
    summer = make_task(
        live_pcn_a,
        patient_given_name="Ann",
        patient_family_name="Lee",
        appointment_start=datetime(2026, 7, 3, 9, 30, tzinfo=UTC),
        site_name="",
    )
    assert tracing_task_title(task=summer) == "Ann LEE — Fri 3 Jul 10:30"


def test_support_is_named_as_support(task, sam):
    with time_machine.travel(WINTER, tick=False):
        tracing_task_claim(task=task, user=sam)
        tracing_task_release(task=task, user=sam)
    assert lines(task) == [
        "Support (Sam Support) claimed this, Tue 1 Dec 09:14",
        "Support (Sam Support) released this, Tue 1 Dec 09:14",
    ]


# --- every action code in words ---------------------------------------------------------------


def _record(task, actor, action, **details):
    with time_machine.travel(WINTER, tick=False):
        return audit_record(
            actor=actor, action=action, target=task, organisation=task.pcn, details=details
        )


def test_every_action_reads_as_a_sentence(task, taylor, pcn_a, practice_a):
    poller, verifier = system_actor("poller"), system_actor("auto-verify")
    due = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
    moved_to = datetime(2026, 7, 10, 13, 0, tzinfo=UTC)
    cases = [
        (
            (
                poller,
                "tracing_task.created",
                {"source": "found_by_poll", "owner": pcn_a.ods_code, "due_at": due},
            ),
            "The poller found this appointment in EMIS (Alpha PCN to trace it, due Wed 2 Dec 08:00)",
        ),
        (
            (
                taylor,
                "tracing_task.created",
                {"source": "booked_via_app", "owner": practice_a.ods_code},
            ),
            "Taylor Hillside booked this appointment through hippo-pcn (Alpha Surgery to trace it)",
        ),
        ((taylor, "tracing_task.claimed", {}), "Taylor Hillside claimed this"),
        (
            (taylor, "tracing_task.released", {"previous_claimed_by": 1}),
            "Taylor Hillside released this",
        ),
        ((taylor, "tracing_task.traced", {}), "Taylor Hillside marked this traced"),
        (
            (
                taylor,
                "tracing_task.cannot_trace",
                {"cannot_trace_reason": "record_not_shared", "cannot_trace_note": "Rang them"},
            ),
            "Taylor Hillside recorded that the patient cannot be traced: Registered practice "
            "does not share the record (“Rang them”)",
        ),
        (
            (verifier, "tracing_task.not_needed", {"evidence": "Registered at the PCN's EMIS"}),
            "Auto-verify found the patient already registered at the PCN, so no tracing is needed",
        ),
        (
            (verifier, "tracing_task.verified", {"registered": False}),
            "Auto-verify found the patient is not registered at the PCN",
        ),
        (
            (taylor, "tracing_task.not_needed", {"evidence": "409"}),
            "Taylor Hillside tried to register the patient at the PCN; they were already "
            "registered there, so no tracing is needed",
        ),
        (
            (taylor, "tracing_task.registered_at_pcn", {}),
            "Taylor Hillside registered the patient at the PCN (temporary registration) and so "
            "traced it",
        ),
        (
            (taylor, "tracing_task.registered_at_pcn", {"at_booking": True}),
            "Taylor Hillside registered the patient at the PCN when booking (temporary registration)",
        ),
        (
            (taylor, "tracing_task.verify_requested", {"registered": False}),
            "Taylor Hillside checked the PCN's EMIS: the patient is not registered there yet",
        ),
        (
            (
                poller,
                "tracing_task.redated",
                {
                    "previous_start": datetime(2026, 12, 3, 10, 30, tzinfo=UTC),
                    "appointment_start": moved_to,
                },
            ),
            "The poller found the appointment moved in EMIS from Thu 3 Dec 10:30 to Fri 10 Jul 14:00",
        ),
        (
            (poller, "tracing_task.reopened", {"reason": "appointment re-booked in EMIS"}),
            "The poller found the appointment booked again in EMIS, so this is open again",
        ),
        (
            (poller, "tracing_task.cancelled", {"reason": "appointment cancelled in EMIS"}),
            "The poller found the appointment cancelled in EMIS, so no tracing is needed",
        ),
        (
            (taylor, "tracing_task.owner_changed", {}),
            "Taylor Hillside: owner changed",  # a code with no sentence yet: words, not the code
        ),
    ]
    for (actor, action, details), _expected in cases:
        _record(task, actor, action, **details)
    assert lines(task) == [f"{expected}, Tue 1 Dec 09:14" for _, expected in cases]
    for text in lines(task):
        assert "tracing_task" not in text and "_" not in text


def test_every_action_code_the_code_writes_has_a_sentence():
    """grep the app for the codes it audits tasks with: each has its own sentence."""
    written: set[str] = set()
    for folder in ("tracing", "booking", "emis_integration", "hippo_pcn"):
        for path in (Path(settings.BASE_DIR) / folder).rglob("*.py"):
            written |= set(re.findall(r"[\"'](tracing_task\.[a-z_]+)[\"']", path.read_text()))
    assert written, "no tracing task action codes found: has the code moved?"
    assert written <= set(SENTENCES), written - set(SENTENCES)


def test_the_real_services_history_reads_well(task, taylor):
    with time_machine.travel(WINTER, tick=False):
        tracing_task_claim(task=task, user=taylor)
        tracing_task_cannot_trace(task=task, user=taylor, reason="other", note="Moved to Spain")
    assert lines(task) == [
        "Taylor Hillside claimed this, Tue 1 Dec 09:14",
        "Taylor Hillside recorded that the patient cannot be traced: Other (“Moved to Spain”), "
        "Tue 1 Dec 09:14",
    ]


def test_a_history_line_survives_odd_details(task, taylor):
    entry = _record(task, taylor, "tracing_task.cannot_trace", cannot_trace_reason="")
    assert (
        history_line(entry).sentence == "Taylor Hillside recorded that the patient cannot be traced"
    )


# --- the change page --------------------------------------------------------------------------


class _Hrefs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.hrefs.append(href)


def hrefs(html: str) -> list[str]:
    parser = _Hrefs()
    parser.feed(html)
    return parser.hrefs


def test_the_change_page_reads_in_plain_english(client_for, task, taylor, practice_a):
    with time_machine.travel(WINTER, tick=False):
        tracing_task_claim(task=task, user=taylor)
        tracing_task_cannot_trace(
            task=task, user=taylor, reason="record_not_shared", note="Rang them"
        )
    response = client_for(taylor).get(change_url(task))
    assert response.status_code == 200
    body = response.content.decode()
    assert "<title>Mary SMITH — Thu 3 Dec 10:30 at Alpha Hub | hippo-pcn admin</title>" in body
    assert "<h1>Mary SMITH — Thu 3 Dec 10:30 at Alpha Hub</h1>" in body
    assert "Taylor Hillside claimed this" in body
    assert "Registered practice does not share the record (“Rang them”)" in body
    assert "Tue 1 Dec 09:14" in body
    assert "tracing_task." not in body
    assert f"appointment {task.emis_appointment_id}" not in body
    assert "Trace appointment" not in body


def test_the_django_history_page_leads_to_the_readable_history(client_for, task, taylor):
    response = client_for(taylor).get(reverse("admin:tracing_tracingtask_history", args=[task.pk]))
    assert response.status_code == 302
    assert response["Location"] == f"{change_url(task)}#task-history"


def test_practice_staff_are_told_why_they_cannot_act(client_for, practice_staff, task):
    body = client_for(practice_staff).get(change_url(task)).content.decode()
    assert (
        "You can see this task but not act on it. This task belongs to Alpha PCN: "
        "only its staff can trace it."
    ) in body


@pytest.mark.parametrize(
    "role", ["pcn_tracer", "pcn_admin", "practice_staff", "practice_admin", "support_user"]
)
def test_no_link_on_the_change_page_or_worklist_is_a_dead_end(
    request, client_for, role, live_pcn_a, practice_a, pcn_a, taylor
):
    TracingPolicy.objects.create(pcn=pcn_a, mode=PolicyMode.PRACTICE_LED)
    task = make_task(
        live_pcn_a,
        owner=practice_a,
        booking_organisation=practice_a,
        registered_practice=practice_a,
        patient_family_name="Linked",
    )
    tracing_task_claim(task=task, user=taylor)
    tracing_task_mark_traced(task=task, user=taylor)
    user = request.getfixturevalue(role)
    client = client_for(user)
    page = client.get(change_url(task))
    assert page.status_code == 200
    body = page.content.decode()
    assert "Taylor Hillside" in body and "Alpha Surgery" in body  # shown by name
    worklist = client.get(reverse("admin:tracing_tracingtask_changelist"), {"status": "all"})
    changelist = reverse("admin:tracing_tracingtask_changelist")
    found = hrefs(body) + [  # the worklist's filter links are relative ("?owner=3")
        changelist + href if href.startswith("?") else href
        for href in hrefs(worklist.content.decode())
    ]
    links = {
        href.split("#")[0]
        for href in found
        if href.startswith("/admin/") and not href.startswith("/admin/logout")
    }
    assert any(link.startswith(change_url(task)) for link in links)
    assert not any(
        link.startswith(("/admin/auth/user/", "/admin/organisations/organisation/"))
        for link in links
    ), "the claimer and the owner are names, not links"
    dead = {}
    for link in sorted(links)[:60]:
        status = client.get(link, follow=True).status_code
        if status in (403, 404):
            dead[link] = status
    assert dead == {}
