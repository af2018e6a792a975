"""A PCN tracer opens today's tracing worklist, claims a task and marks it
traced; the dashboard shows it."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from playwright.sync_api import Page, expect

from emis_integration import services as emis_services
from emis_integration.models import ConnectionStatus
from tests.tracing.helpers import make_task
from tracing.models import TracingTask

from .helpers import sign_in


def _run(page: Page, task: TracingTask, action_label: str) -> None:
    page.locator(f"input[name=_selected_action][value='{task.pk}']").check()
    page.locator("select[name=action]").select_option(label=action_label)
    page.get_by_role("button", name="Go").click()


def test_tracer_claims_and_traces_todays_task(
    live_server, page: Page, pcn_tracer, superuser, pcn_a, other_pcn_tracer, pcn_b
):
    connection = emis_services.connection_create(
        actor=superuser, organisation=pcn_a, status=ConnectionStatus.LIVE
    )
    other = emis_services.connection_create(
        actor=superuser, organisation=pcn_b, status=ConnectionStatus.LIVE
    )
    # Due within today (London) whatever time the suite runs, even at 23:50.
    now = timezone.localtime()
    end_of_today = now.replace(hour=23, minute=59, second=0, microsecond=0)
    due_in = min(timedelta(minutes=30), end_of_today - now)
    task = make_task(connection, patient_family_name="Todayson", due_in=due_in)
    make_task(connection, patient_family_name="Laterby", due_in=timedelta(days=3))
    make_task(other, patient_family_name="Otherpcn", due_in=due_in)

    sign_in(page, live_server.url, pcn_tracer.username)
    page.get_by_role("link", name="Tracing worklist").click()
    expect(page.locator("#result_list")).to_contain_text("TODAYSON")
    expect(page.locator("#result_list")).not_to_contain_text("OTHERPCN")
    page.get_by_role("link", name="Due today").click()
    expect(page.locator("#result_list")).to_contain_text("TODAYSON")
    expect(page.locator("#result_list")).not_to_contain_text("LATERBY")

    _run(page, task, "Claim (I will trace these)")
    expect(page.locator(".messagelist")).to_contain_text("1 task claimed by you.")
    row = page.locator("#result_list tbody tr", has_text="TODAYSON")
    expect(row).to_contain_text("Claimed")

    _run(page, task, "Mark traced")
    expect(page.locator(".messagelist")).to_contain_text("1 task marked traced.")
    expect(page.locator("#changelist")).not_to_contain_text("TODAYSON")
    task.refresh_from_db()
    assert task.status == "traced" and task.done_by == pcn_tracer

    page.goto(f"{live_server.url}/admin/tracing/tracingtask/dashboard/")
    expect(page.locator("[data-pcn=U10001] [data-figure=traced_today]")).to_have_text("1")
    expect(page.locator("body")).not_to_contain_text("Beta PCN")
