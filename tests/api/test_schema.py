"""The OpenAPI schema and its docs: the schema validates with no warning, every
operation answers as documented (schemathesis against the live schema, with a PCN
tracer's token and a practice admin's), and the docs page is served from our own
static files under the strict browser policy."""

from __future__ import annotations

import re
from datetime import timedelta
from io import StringIO
from types import SimpleNamespace

import pytest
import schemathesis
from django.core import signals
from django.core.management import call_command
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from booking import services as booking_services
from booking.selectors import campaign_offerable_slots
from hippo_pcn.wsgi import application
from tests.booking.factories import PatientFactory
from tests.emis_world import at
from tests.test_browser_policy import INLINE, expect_browser_policy
from tests.tracing.helpers import make_task

# --- The schema itself -------------------------------------------------------------------


def test_the_schema_validates_without_warnings(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(out), stdout=StringIO()
    )
    text = out.read_text()
    assert "/api/v1/me/" in text
    assert "application/problem+json" in text
    assert "bearerFormat: hpcn_<key>.<secret>" in text


def test_every_operation_needs_a_token_or_a_session(client, db):
    schema = client.get("/api/schema/?format=json").json()
    schemes = schema["components"]["securitySchemes"]
    assert schemes["apiToken"]["scheme"] == "bearer"
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            security = operation.get("security", schema.get("security"))
            assert {"apiToken": []} in security, (method, path)
            assert {} not in security, (method, path)
            assert "401" in operation["responses"], (method, path)


def test_the_docs_page_uses_local_files_and_no_inline_code(client, db):
    page = client.get("/api/docs/")
    assert page.status_code == 200
    expect_browser_policy(page)
    html = page.content.decode()
    assert not INLINE.search(html)
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources and all(src.startswith("/") for src in sources), sources
    for src in sources:
        response = client.get(src)
        assert response.status_code == 200, src
        if src.startswith("/api/docs/"):
            assert response["Content-Type"].startswith("application/javascript")
            assert "/api/schema/" in response.content.decode()
        elif hasattr(response, "close"):
            response.close()


# --- schemathesis against the live schema ----------------------------------------------------


@pytest.fixture
def api_world(emis_world, pcn_a, practice_a, practice_admin, pcn_tracer, other_practice_staff):
    """Alpha PCN live with tasks in each state; Alpha Surgery's active campaign with
    practice and PCN slots mirrored and patients on its cohort."""
    connection = emis_world.connections["U10001"]
    for status in ("open", "open", "claimed", "traced"):
        make_task(connection, status=status, claimed_by=pcn_tracer if status == "claimed" else None)
    make_task(connection, owner=practice_a)
    emis_world.slots("A10001", [at(2, 9), at(2, 11)])
    emis_world.slots("U10001", [at(2, 10), at(3, 9), at(3, 9, 10)])
    patients = [PatientFactory(practice=practice_a) for _ in range(3)]
    today = timezone.localdate()
    campaign = booking_services.campaign_create(
        user=practice_admin,
        practice=practice_a,
        name="Winter flu clinic",
        appointment_type="Flu vaccination",
        start_date=today,
        end_date=today + timedelta(days=13),
        use_pcn_slots=True,
        status="active",
        slot_service_types=["Flu vaccination"],
    )
    booking_services.campaign_add_patients(
        user=practice_admin, campaign=campaign, patients=patients
    )
    booking_services.campaign_refresh_slots(campaign=campaign)
    return SimpleNamespace(world=emis_world, campaign=campaign, patients=patients)


@pytest.fixture
def tracer_secret(api_world, pcn_tracer, make_api_token):
    return make_api_token(pcn_tracer, "schemathesis", 7)


@pytest.fixture
def practice_admin_secret(api_world, practice_admin, make_api_token):
    return make_api_token(practice_admin, "schemathesis", 7)


@pytest.fixture
def in_process_requests():
    """schemathesis calls the WSGI app directly: keep the test's database connection
    (and its transaction) open across requests, as Django's test client does."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


# Loaded when the module is collected (no database needed: the schema is public);
# each operation becomes a test of its own.
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
BOUNDED = settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)


@schema.parametrize()
@BOUNDED
def test_every_operation_answers_a_pcn_tracer_as_documented(
    case, tracer_secret, in_process_requests
):
    case.call_and_validate(headers={"Authorization": f"Bearer {tracer_secret}"}, checks=CHECKS)


@schema.parametrize()
@BOUNDED
def test_every_operation_answers_a_practice_admin_as_documented(
    case, practice_admin_secret, in_process_requests
):
    case.call_and_validate(
        headers={"Authorization": f"Bearer {practice_admin_secret}"}, checks=CHECKS
    )


def _operation(operation_id: str):
    for path, item in schema.raw_schema["paths"].items():
        for method, operation in item.items():
            if isinstance(operation, dict) and operation.get("operationId") == operation_id:
                return schema[path][method.upper()]
    raise LookupError(operation_id)


def test_create_booking_then_follow_its_links_to_get_and_cancel_it(
    api_world, practice_admin_secret, in_process_requests
):
    """The stateful path, by the schema's own links: every answer validated."""
    auth = {"Authorization": f"Bearer {practice_admin_secret}"}
    campaign = api_world.campaign
    slot = campaign_offerable_slots(campaign=campaign).filter(is_pcn=True).first()
    create = schema["/api/v1/bookings/"]["POST"]
    body = {
        "campaign": campaign.pk,
        "patient": api_world.patients[0].pk,
        "slot": slot.pk,
        "pcn_consent": True,
    }
    created = create.Case(body=body, headers=auth).call_and_validate(checks=CHECKS)
    assert created.status_code == 201, created.text
    links = schema.raw_schema["paths"]["/api/v1/bookings/"]["post"]["responses"]["201"]["links"]
    assert {link["operationId"] for link in links.values()} == {
        "bookings_retrieve",
        "bookings_cancel",
    }
    booking_id = created.json()["id"]

    got = (
        _operation("bookings_retrieve")
        .Case(path_parameters={"id": booking_id}, headers=auth)
        .call_and_validate(checks=CHECKS)
    )
    assert got.status_code == 200 and got.json()["status"] == "booked"
    cancelled = (
        _operation("bookings_cancel")
        .Case(
            path_parameters={"id": booking_id},
            body={"reason": "The patient cannot come that day"},
            headers=auth,
        )
        .call_and_validate(checks=CHECKS)
    )
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
