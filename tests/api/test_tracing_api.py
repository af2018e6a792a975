"""The tracing API (/api/v1/tracing-tasks/, /poll-health/, /tracing-dashboard/):
the worklist's filters and search with the worklist's results, its tenancy and
ownership rules, the actions through the same services (audited "via API"),
race-safe claims, constant query counts, and the selectors' figures."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection as db_connection
from django.urls import reverse
from django.utils import timezone

from hippo_pcn.audit.models import AuditEntry
from tests.emis_world import at
from tests.tracing.helpers import make_task, sandbox_patients, simulate
from tracing.models import PollCursor, TaskStatus, TracingTask
from tracing.poller import poll_connection
from tracing.selectors import poll_health, tracing_dashboard
from tracing.services.actions import OTHER_NEEDS_A_NOTE

CHANGELIST = "admin:tracing_tracingtask_changelist"
PROBLEM = "application/problem+json"
ACTIONS = ("claim", "release", "mark-traced", "cannot-trace", "verify")


def tasks_url():
    return reverse("api-tracing-task-list")


def task_url(task, action=""):
    if action:
        return reverse(f"api-tracing-task-{action}", args=[task.pk])
    return reverse("api-tracing-task-detail", args=[task.pk])


def results(response):
    assert response.status_code == 200, response.content
    return response.json()["results"]


def ids(response):
    return [row["id"] for row in results(response)]


def post(client, task, action, body=None):
    return client.post(task_url(task, action), body or {}, format="json")


def is_problem(response, status):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status
    return body


def _live(pcn, superuser):
    from emis_integration import services as emis_services
    from emis_integration.models import ConnectionStatus

    return emis_services.connection_create(
        actor=superuser, organisation=pcn, status=ConnectionStatus.LIVE
    )


@pytest.fixture
def live_pcn_a(pcn_a, superuser):
    return _live(pcn_a, superuser)


@pytest.fixture
def live_pcn_b(pcn_b, superuser):
    return _live(pcn_b, superuser)


@pytest.fixture
def tasks_a(live_pcn_a, practice_a, practice_a2):
    now = timezone.now()
    return {
        "open": make_task(
            live_pcn_a, patient_family_name="Openshaw", registered_practice=practice_a
        ),
        "claimed": make_task(live_pcn_a, status="claimed", patient_family_name="Clayton"),
        "traced": make_task(live_pcn_a, status="traced", patient_family_name="Tracey"),
        "practice_owned": make_task(
            live_pcn_a,
            owner=practice_a,
            booking_organisation=practice_a,
            patient_family_name="Prac",
            registered_practice=practice_a,
        ),
        "booked": make_task(
            live_pcn_a,
            booking_organisation=practice_a,
            patient_given_name="Mary",
            patient_family_name="Booked",
            source="booked_via_app",
            site_name="Second Site",
        ),
        "overdue": make_task(
            live_pcn_a,
            patient_family_name="Latimer",
            patient_nhs_number="4010232137",
            due_in=timedelta(hours=-3),
            appointment_start=now + timedelta(hours=5),
            registered_practice=practice_a2,
        ),
        "later": make_task(live_pcn_a, patient_family_name="Farley", due_in=timedelta(days=9)),
    }


@pytest.fixture
def task_b(live_pcn_b):
    return make_task(live_pcn_b, patient_family_name="Betaperson", patient_nhs_number="4010232137")


def worklist_ids(client, query):
    response = client.get(reverse(CHANGELIST), query)
    assert response.status_code == 200
    return [task.pk for task in response.context["cl"].result_list]


# --- the list: the worklist's filters and search -------------------------------------------


def test_the_list_defaults_to_open_and_claimed_soonest_due_first(
    api_client_for, client_for, pcn_tracer, tasks_a, task_b
):
    shown = ids(api_client_for(pcn_tracer).get(tasks_url()))
    assert shown == worklist_ids(client_for(pcn_tracer), {})
    assert shown[0] == tasks_a["overdue"].pk
    assert tasks_a["traced"].pk not in shown and task_b.pk not in shown
    row = results(api_client_for(pcn_tracer).get(tasks_url()))[0]
    assert row["nhs_number"] == "4010232137"
    assert row["overdue"] is True and row["appointment_within_24h"] is True
    assert (row["owner_name"], row["pcn_name"], row["status"]) == ("Alpha PCN", "Alpha PCN", "open")


# (API query, the worklist's query for the same thing); ids are filled in by name.
SAME_QUERIES = [
    ({"status": "all"}, {"status": "all"}),
    ({"status": "traced"}, {"status": "traced"}),
    ({"status": "claimed"}, {"status": "claimed"}),
    ({"mine": "true"}, {"status": "mine"}),
    ({"q": "943 476 5919"}, {"q": "943 476 5919"}),
    ({"q": "943-476-5919"}, {"q": "943-476-5919"}),
    ({"q": "opens"}, {"q": "opens"}),
    ({"q": "mary boo"}, {"q": "mary boo"}),
    ({"q": "4010232137", "status": "all"}, {"q": "4010232137", "status": "all"}),
    ({"source": "booked_via_app"}, {"source": "booked_via_app"}),
    ({"source": "found_by_poll"}, {"source": "found_by_poll"}),
    ({"site": "Second Site"}, {"site": "Second Site"}),
    ({"due": "overdue"}, {"due": "overdue"}),
    ({"due": "today"}, {"due": "today"}),
    ({"due": "week"}, {"due": "week"}),
    ({"due": "soon"}, {"due": "soon"}),
    ({"owner": "practice_a"}, {"owner": "practice_a"}),
    ({"owner": "pcn_a", "status": "all"}, {"owner": "pcn_a", "status": "all"}),
    ({"pcn": "pcn_a"}, {"pcn": "pcn_a"}),
    ({"practice": "practice_a2"}, {"practice": "practice_a2"}),
    ({"practice": "practice_a", "q": "prac"}, {"practice": "practice_a", "q": "prac"}),
]


@pytest.mark.parametrize(("api_query", "admin_query"), SAME_QUERIES)
@pytest.mark.parametrize("role", ["pcn_tracer", "practice_staff", "support_user"])
def test_filters_and_search_give_the_worklists_results(
    request, api_client_for, client_for, role, tasks_a, task_b, api_query, admin_query, pcn_b
):
    user = request.getfixturevalue(role)
    TracingTask.objects.filter(pk=tasks_a["claimed"].pk).update(claimed_by=user)

    def resolve(query):
        return {
            key: request.getfixturevalue(value).pk if key in ("owner", "pcn", "practice") else value
            for key, value in query.items()
        }

    shown = ids(api_client_for(user).get(tasks_url(), resolve(api_query)))
    assert shown == worklist_ids(client_for(user), resolve(admin_query))
    if role == "pcn_tracer" and api_query.get("due") != "today":  # "today" hangs on the hour
        assert shown, "each query finds some of the PCN's tasks"


def test_the_filters_select_what_they_say(api_client_for, pcn_tracer, tasks_a, practice_a):
    client = api_client_for(pcn_tracer)
    assert ids(client.get(tasks_url(), {"due": "overdue"})) == [tasks_a["overdue"].pk]
    assert ids(client.get(tasks_url(), {"q": "943 476 5919", "owner": practice_a.pk})) == [
        tasks_a["practice_owned"].pk
    ]
    assert ids(client.get(tasks_url(), {"source": "booked_via_app"})) == [tasks_a["booked"].pk]
    assert tasks_a["later"].pk not in ids(client.get(tasks_url(), {"due": "week"}))


def test_statuses_combine_when_repeated(api_client_for, pcn_tracer, tasks_a):
    client = api_client_for(pcn_tracer)
    shown = ids(client.get(f"{tasks_url()}?status=traced&status=claimed"))
    assert sorted(shown) == sorted([tasks_a["traced"].pk, tasks_a["claimed"].pk])


def test_a_filter_that_is_not_in_the_list_is_a_400_problem(api_client_for, pcn_tracer, tasks_a):
    client = api_client_for(pcn_tracer)
    body = is_problem(client.get(tasks_url(), {"due": "yesterday"}), 400)
    assert list(body["errors"]) == ["due"]
    body = is_problem(client.get(tasks_url(), {"owner": "Alpha"}), 400)
    assert list(body["errors"]) == ["owner"]


def test_the_list_pages_by_cursor_in_due_order(api_client_for, pcn_tracer, tasks_a):
    client = api_client_for(pcn_tracer)
    first = client.get(tasks_url(), {"page_size": 2, "status": "all"})
    seen = ids(first)
    url = first.json()["next"]
    while url:
        page = client.get(url)
        seen += ids(page)
        url = page.json()["next"]
    expected = list(
        TracingTask.objects.filter(pcn=tasks_a["open"].pcn)
        .order_by("due_at", "id")
        .values_list("pk", flat=True)
    )
    assert seen == expected


@pytest.mark.parametrize("page_size", [20, 100])
def test_the_query_count_per_page_does_not_grow_with_rows(
    api_client_for,
    pcn_tracer,
    pcn_admin,
    live_pcn_a,
    practice_a,
    django_assert_max_num_queries,
    page_size,
):
    client = api_client_for(pcn_tracer)
    for i in range(3):
        make_task(live_pcn_a, status="claimed" if i % 2 else "open", claimed_by=pcn_admin)
    client.get(tasks_url(), {"page_size": page_size})  # warm caches (content types)
    with django_assert_max_num_queries(50) as small:
        assert len(ids(client.get(tasks_url(), {"page_size": page_size}))) == 3
    for i in range(130):
        make_task(
            live_pcn_a,
            status="claimed",
            claimed_by=pcn_admin if i % 2 else pcn_tracer,
            owner=practice_a if i % 3 else live_pcn_a.organisation,
        )
    with django_assert_max_num_queries(len(small.captured_queries)):
        response = client.get(tasks_url(), {"page_size": page_size})
    assert len(ids(response)) == page_size


# --- tenancy and ownership -----------------------------------------------------------------


def test_another_pcns_tasks_are_absent_and_404_everywhere(
    api_client_for, other_pcn_tracer, tasks_a, task_b, pcn_a
):
    client = api_client_for(other_pcn_tracer)
    assert ids(client.get(tasks_url(), {"status": "all"})) == [task_b.pk]
    # Search and filters do not reach across either.
    assert ids(client.get(tasks_url(), {"q": "943 476 5919", "status": "all"})) == []
    assert ids(client.get(tasks_url(), {"owner": pcn_a.pk, "status": "all"})) == []
    assert ids(client.get(tasks_url(), {"pcn": pcn_a.pk, "status": "all"})) == []
    for task in tasks_a.values():
        body = is_problem(client.get(task_url(task)), 404)
        assert "another organisation" in body["detail"]
        for action in ACTIONS:
            body_json = {"reason": "record_not_shared"} if action == "cannot-trace" else {}
            is_problem(post(client, task, action, body_json), 404)
    for task in tasks_a.values():
        before = (task.status, task.claimed_by_id, task.done_by_id)
        task.refresh_from_db()
        assert (task.status, task.claimed_by_id, task.done_by_id) == before
    assert not AuditEntry.objects.filter(action__startswith="tracing_task.").exists()


def test_a_task_that_does_not_exist_is_a_404_problem(api_client_for, pcn_tracer, tasks_a):
    client = api_client_for(pcn_tracer)
    is_problem(client.get(reverse("api-tracing-task-detail", args=[999_999_999])), 404)
    is_problem(client.post(reverse("api-tracing-task-claim", args=[999_999_999])), 404)


def test_practice_staff_see_what_the_worklist_shows_them_and_act_only_on_their_own(
    api_client_for, client_for, practice_staff, other_practice_staff, tasks_a, pcn_b
):
    client = api_client_for(practice_staff)
    shown = ids(client.get(tasks_url(), {"status": "all"}))
    assert shown == worklist_ids(client_for(practice_staff), {"status": "all"})
    assert set(shown) == {tasks_a["practice_owned"].pk, tasks_a["booked"].pk}
    assert ids(client.get(tasks_url(), {"pcn": pcn_b.pk, "status": "all"})) == []
    assert ids(api_client_for(other_practice_staff).get(tasks_url(), {"status": "all"})) == []
    is_problem(api_client_for(other_practice_staff).get(task_url(tasks_a["booked"])), 404)

    # A task their practice booked but the PCN owns: visible, not theirs to trace.
    booked = tasks_a["booked"]
    detail = client.get(task_url(booked)).json()
    assert detail["may_act"] is False
    assert detail["refusal"] == "This task belongs to Alpha PCN: only its staff can trace it."
    for action in ACTIONS:
        body_json = {"reason": "record_not_shared"} if action == "cannot-trace" else {}
        body = is_problem(post(client, booked, action, body_json), 403)
        assert body["detail"] == "This task belongs to Alpha PCN: only its staff can trace it."
    booked.refresh_from_db()
    assert (booked.status, booked.claimed_by_id) == (TaskStatus.OPEN, None)
    assert not AuditEntry.objects.filter(object_id=str(booked.pk)).exists()

    # The task their practice owns: they trace it.
    owned = tasks_a["practice_owned"]
    assert client.get(task_url(owned)).json()["may_act"] is True
    response = post(client, owned, "mark-traced")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "traced"


# --- actions -------------------------------------------------------------------------------


def test_claim_release_and_trace_through_the_api_are_audited_via_api(
    api_client_for, client_for, pcn_tracer, tasks_a
):
    pcn_tracer.first_name, pcn_tracer.last_name = "Tess", "Tracer"
    pcn_tracer.save()
    client = api_client_for(pcn_tracer)
    task = tasks_a["open"]
    name = "Tess Tracer"
    claimed = post(client, task, "claim")
    assert claimed.status_code == 200, claimed.content
    assert (claimed.json()["status"], claimed.json()["claimed_by_name"]) == ("claimed", name)
    released = post(client, task, "release")
    assert (released.status_code, released.json()["status"]) == (200, "open")
    post(client, task, "claim")
    traced = post(client, task, "mark-traced")
    assert traced.status_code == 200
    body = traced.json()
    assert (body["status"], body["done_by_name"], body["may_act"]) == ("traced", name, True)
    task.refresh_from_db()
    assert (task.status, task.done_by) == (TaskStatus.TRACED, pcn_tracer)
    entries = list(AuditEntry.objects.filter(object_id=str(task.pk)).order_by("id"))
    assert [e.action for e in entries] == [
        "tracing_task.claimed",
        "tracing_task.released",
        "tracing_task.claimed",
        "tracing_task.traced",
    ]
    assert all(e.actor == pcn_tracer for e in entries)
    assert all(e.details.get("channel") == "API" for e in entries)
    # The history, in words, in the API and on the admin page alike.
    sentences = [line["sentence"] for line in body["history"]]
    assert f"{name} claimed this (through the API)" in sentences
    assert f"{name} marked this traced (through the API)" in sentences
    assert "tracing_task." not in " ".join(sentences)
    page = client_for(pcn_tracer).get(reverse("admin:tracing_tracingtask_change", args=[task.pk]))
    assert f"{name} marked this traced (through the API)" in page.content.decode()


def test_the_detail_has_the_task_its_title_and_history(api_client_for, pcn_tracer, tasks_a):
    task = tasks_a["open"]
    body = api_client_for(pcn_tracer).get(task_url(task)).json()
    assert body["id"] == task.pk
    assert body["title"].startswith("Jane OPENSHAW — ")
    assert (body["may_act"], body["refusal"]) == (True, None)
    assert body["emis_appointment_id"] == task.emis_appointment_id
    assert isinstance(body["history"], list)


def test_an_action_that_cannot_be_done_now_is_a_409_in_the_services_words(
    api_client_for, pcn_tracer, pcn_admin, tasks_a
):
    client = api_client_for(pcn_tracer)
    task = tasks_a["open"]
    assert post(api_client_for(pcn_admin), task, "claim").status_code == 200
    body = is_problem(post(client, task, "claim"), 409)
    assert "has just claimed it" in body["detail"]
    body = is_problem(post(client, task, "mark-traced"), 409)
    assert "has just claimed it" in body["detail"]
    body = is_problem(post(client, tasks_a["traced"], "release"), 409)
    assert "so there is nothing to release" in body["detail"]
    task.refresh_from_db()
    assert (task.status, task.claimed_by) == (TaskStatus.CLAIMED, pcn_admin)


def test_cannot_trace_other_needs_a_note_in_the_forms_words(api_client_for, pcn_tracer, tasks_a):
    client = api_client_for(pcn_tracer)
    task = tasks_a["open"]
    body = is_problem(post(client, task, "cannot-trace", {"reason": "other", "note": " "}), 400)
    assert body["errors"] == {"note": [OTHER_NEEDS_A_NOTE]}
    assert body["detail"] == OTHER_NEEDS_A_NOTE
    body = is_problem(post(client, task, "cannot-trace", {"note": "Rang them"}), 400)
    assert body["errors"] == {"reason": ["Choose why the patient cannot be traced."]}
    body = is_problem(post(client, task, "cannot-trace", {"reason": "lost"}), 400)
    assert body["errors"] == {"reason": ["Choose why the patient cannot be traced from the list."]}
    task.refresh_from_db()
    assert task.status == TaskStatus.OPEN
    done = post(client, task, "cannot-trace", {"reason": "record_not_shared", "note": "Rang them"})
    assert done.status_code == 200, done.content
    assert (done.json()["status"], done.json()["cannot_trace_reason"]) == (
        "cannot_trace",
        "record_not_shared",
    )
    task.refresh_from_db()
    assert (task.status, task.cannot_trace_reason, task.cannot_trace_note) == (
        "cannot_trace",
        "record_not_shared",
        "Rang them",
    )
    entry = AuditEntry.objects.get(action="tracing_task.cannot_trace", object_id=str(task.pk))
    assert (entry.actor, entry.details.get("channel")) == (pcn_tracer, "API")


@pytest.mark.django_db(transaction=True)
def test_two_claims_at_once_one_wins_the_other_is_told(
    api_client_for, live_pcn_a, pcn_tracer, pcn_admin
):
    task = make_task(live_pcn_a)
    clients = {user.username: api_client_for(user) for user in (pcn_tracer, pcn_admin)}
    barrier = threading.Barrier(2)
    outcomes = {}

    def claim(username):
        try:
            barrier.wait()
            outcomes[username] = post(clients[username], task, "claim")
        finally:
            db_connection.close()

    threads = [threading.Thread(target=claim, args=(name,)) for name in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(response.status_code for response in outcomes.values())
    assert statuses == [200, 409]
    loser = next(r for r in outcomes.values() if r.status_code == 409)
    assert "has just claimed it" in loser.json()["detail"]
    task.refresh_from_db()
    assert task.status == TaskStatus.CLAIMED
    assert AuditEntry.objects.filter(action="tracing_task.claimed").count() == 1


# --- verify: the PCN's EMIS (the sandbox, over HTTP) ------------------------------------------


@pytest.fixture
def pcn_world(emis_world):
    """As tests/tracing's: Alpha PCN live with patients at its practices and free slots."""
    sandbox_patients(emis_world, "A10001", 20, start=999_500_000)
    sandbox_patients(emis_world, "A10002", 20, start=999_600_000)
    starts = [at(day, 10) + timedelta(minutes=10 * i) for day in (2, 3, 4) for i in range(20)]
    emis_world.slots("U10001", starts)
    return emis_world


def test_verify_asks_the_pcns_emis_and_is_audited_via_api(api_client_for, pcn_tracer, pcn_world):
    from emis_integration.sandbox.models import Patient, RegistrationType

    connection = pcn_world.connections["U10001"]
    simulate(1)
    poll_connection(connection=connection)
    task = TracingTask.objects.get()
    client = api_client_for(pcn_tracer)
    response = post(client, task, "verify")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["registered"] is False
    assert "not registered at the PCN yet" in body["message"]
    assert body["task"]["status"] == "open"
    entry = AuditEntry.objects.get(action="tracing_task.verify_requested")
    assert (entry.actor, entry.details.get("channel")) == (pcn_tracer, "API")

    Patient.objects.update_or_create(
        organisation=pcn_world.orgs["U10001"],
        nhs_number=task.patient_nhs_number,
        defaults={
            "family": "Already",
            "given": "There",
            "birth_date": task.patient_birth_date,
            "registration_type": RegistrationType.TEMPORARY,
            "registered_practice_ods": "A10001",
        },
    )
    body = post(client, task, "verify").json()
    assert body["registered"] is True
    assert body["task"]["status"] == "not_needed"
    assert "Registered at the PCN's EMIS" in body["task"]["verification_note"]
    # Nothing left to verify: the service's words, as a 409.
    problem = is_problem(post(client, task, "verify"), 409)
    assert "nothing to verify" in problem["detail"]


# --- poll health and the dashboard ---------------------------------------------------------


def _health_rows(items):
    return [
        {
            "connection_id": item.connection_id,
            "pcn_name": item.organisation,
            "pcn_ods_code": item.ods_code,
            "healthy": item.healthy,
            "last_error": item.last_error,
        }
        for item in items
    ]


def _pick(rows):
    keys = ("connection_id", "pcn_name", "pcn_ods_code", "healthy", "last_error")
    return [{key: row[key] for key in keys} for row in rows]


def test_poll_health_matches_the_selector_for_the_users_pcns(
    api_client_for,
    pcn_tracer,
    other_pcn_tracer,
    practice_staff,
    support_user,
    live_pcn_a,
    live_pcn_b,
    settings,
):
    now = timezone.now()
    PollCursor.objects.update_or_create(
        connection=live_pcn_a,
        defaults={
            "last_success_at": now
            - timedelta(seconds=settings.TRACING_POLL_ALERT_AFTER_SECONDS * 3),
            "last_error": "EMIS did not answer in time.",
            "last_error_at": now - timedelta(minutes=5),
        },
    )
    url = reverse("api-poll-health")
    mine = api_client_for(pcn_tracer).get(url)
    assert mine.status_code == 200
    assert _pick(mine.json()) == _health_rows(poll_health(pcn_ids=[live_pcn_a.organisation_id]))
    row = mine.json()[0]
    assert (row["healthy"], row["last_error"]) == (False, "EMIS did not answer in time.")
    assert row["last_success_at"] is not None
    other = api_client_for(other_pcn_tracer).get(url).json()
    assert [row["pcn_ods_code"] for row in other] == ["U20002"]
    assert other[0]["healthy"] is True
    everyone = api_client_for(support_user).get(url).json()
    assert _pick(everyone) == _health_rows(poll_health())
    assert api_client_for(practice_staff).get(url).json() == []


def test_dashboard_figures_match_the_selector_per_pcn(
    api_client_for, pcn_tracer, other_pcn_tracer, support_user, live_pcn_a, live_pcn_b
):
    now = timezone.now()
    make_task(live_pcn_a, due_in=timedelta(hours=-1))
    make_task(live_pcn_a)
    traced = make_task(
        live_pcn_a,
        status="traced",
        appointment_start=now - timedelta(days=1),
        done_at=now - timedelta(days=2),
    )
    TracingTask.objects.filter(pk=traced.pk).update(created_at=now - timedelta(days=2, hours=6))
    make_task(live_pcn_b)
    url = reverse("api-tracing-dashboard")
    response = api_client_for(pcn_tracer).get(url)
    assert response.status_code == 200
    (panel,) = response.json()
    (expected,) = tracing_dashboard(user=pcn_tracer)
    assert panel["pcn"] == {"id": expected.pcn.pk, "name": "Alpha PCN", "ods_code": "U10001"}
    assert (panel["open"], panel["overdue"], panel["traced_today"]) == (
        expected.open,
        expected.overdue,
        expected.traced_today,
    )
    assert (panel["open"], panel["overdue"]) == (2, 1)
    assert panel["before_appointment_rate"] == expected.before_appointment_rate == 100.0
    assert panel["median_hours_to_trace"] == expected.median_hours_to_trace == 6.0
    assert panel["median_basis"] == {
        "label": expected.median_label,
        "from_booking": expected.median_from_booking,
        "from_found": expected.median_from_found,
    }
    assert [(d["day"], d["found"], d["traced"]) for d in panel["days"]] == [
        (d.day.isoformat(), d.found, d.traced) for d in expected.days
    ]
    assert len(panel["days"]) == 14
    assert [h["connection_id"] for h in panel["health"]] == [live_pcn_a.pk]
    other = api_client_for(other_pcn_tracer).get(url).json()
    assert [(p["pcn"]["ods_code"], p["open"]) for p in other] == [("U20002", 1)]
    support = api_client_for(support_user).get(url).json()
    assert [p["pcn"]["ods_code"] for p in support] == ["U10001", "U20002"]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("tracing-tasks/abc/", 404),
        ("tracing-tasks/-1/", 404),
        ("tracing-tasks/99999999999999999999999/", 404),
        ("tracing-tasks/99999999999999999999999/claim/", 404),
        ("tracing-tasks/?owner=99999999999999999999999", 400),
        ("tracing-tasks/?cursor=not-a-cursor", 400),
        ("tracing-tasks/?status=nearly", 400),
        ("tracing-tasks/?q=%C3%A9%F0%9F%98%80&site=&due=&source=", 200),
        ("tracing-tasks/?page_size=0", 200),
    ],
)
def test_odd_requests_get_a_problem_never_a_server_error(
    api_client_for, pcn_tracer, tasks_a, path, status
):
    client = api_client_for(pcn_tracer)
    response = client.post(f"/api/v1/{path}") if "claim" in path else client.get(f"/api/v1/{path}")
    if status == 200:
        assert response.status_code == 200, response.content
    else:
        is_problem(response, status)
