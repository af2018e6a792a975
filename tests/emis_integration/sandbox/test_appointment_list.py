"""The seam: appointments updated since an instant, keyset-paged."""

from __future__ import annotations

from datetime import UTC, timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.utils import timezone

from emis_integration import gpconnect as gpc
from emis_integration.sandbox import services
from emis_integration.sandbox.types import CancellationRequest

from .conftest import tomorrow_at
from .helpers import booking_request, fhir_base, headers, nhs_numbers, outcome_code, validate

LIST = gpc.INTERACTION_LIST_APPOINTMENTS


def stamp(value) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def list_page(api, organisation, url=None, **params):
    url = url or f"{fhir_base(organisation)}/Appointment?{urlencode(params)}"
    return api.get(url, headers=headers(organisation, LIST))


def book_at(pcn, slot, nhs, when):
    return services.appointment_book(organisation=pcn, booking=booking_request(slot, nhs), now=when)


@pytest.fixture
def history(pcn, practice, make_slot):
    """Six appointments; the 2nd and 3rd share a last_updated; the 1st is
    cancelled last."""
    base = timezone.now() - timedelta(hours=1)
    numbers = nhs_numbers(6)
    offsets = [0, 1, 1, 2, 3, 4]
    appointments = [
        book_at(pcn, make_slot(tomorrow_at(9, 10 * i)), numbers[i], base + timedelta(seconds=s))
        for i, s in enumerate(offsets)
    ]
    first = appointments[0]
    services.appointment_cancel(
        organisation=pcn,
        cancellation=CancellationRequest(
            appointment_id=first.pk,
            reason="Patient unwell",
            start=first.start,
            end=first.end,
            slot_references=(f"Slot/{first.slot_id}",),
            participant_references=first.participant_references(),
            booking_org_ods="A10001",
            patient_nhs_number=first.patient_nhs_number,
            description="",
            comment="",
        ),
        expected_version=1,
        now=base + timedelta(seconds=10),
    )
    return base, appointments


def test_three_pages_in_order_with_cancelled_included(api, pcn, history):
    base, appointments = history
    since = stamp(base - timedelta(seconds=1))
    seen = []
    response = list_page(api, pcn, _lastUpdated=f"gt{since}", _count=2, _sort="_lastUpdated")
    pages = 0
    while True:
        assert response.status_code == 200, response.json()
        bundle = response.json()
        validate(bundle, "Bundle")
        pages += 1
        entries = [e["resource"] for e in bundle.get("entry", [])]
        assert len(entries) == 2
        seen += entries
        links = {link["relation"]: link["url"] for link in bundle["link"]}
        assert links["self"].startswith("http://testserver/")
        if "next" not in links:
            break
        next_url = links["next"]
        parts = urlsplit(next_url)
        assert parts.scheme == "http" and parts.netloc == "testserver"
        assert parse_qs(parts.query)["_count"] == ["2"]
        assert parse_qs(parts.query)["cursor"]
        response = list_page(api, pcn, url=next_url)
    assert pages == 3
    expected = [a.pk for a in appointments[1:]] + [appointments[0].pk]
    assert [int(r["id"]) for r in seen] == expected
    keys = [(r["meta"]["lastUpdated"], int(r["id"])) for r in seen]
    assert keys == sorted(keys)
    cancelled = seen[-1]
    assert cancelled["status"] == "cancelled"
    assert cancelled["meta"]["versionId"] == "2"
    assert {"url": gpc.EXT_CANCELLATION_REASON, "valueString": "Patient unwell"} in cancelled[
        "extension"
    ]


def test_only_appointments_updated_after_the_instant(api, pcn, history):
    base, appointments = history
    response = list_page(api, pcn, _lastUpdated=f"gt{stamp(base + timedelta(seconds=2))}")
    assert response.status_code == 200
    ids = [int(e["resource"]["id"]) for e in response.json()["entry"]]
    assert ids == [appointments[4].pk, appointments[5].pk, appointments[0].pk]
    assert [link["relation"] for link in response.json()["link"]] == ["self"]


def test_nothing_new_is_an_empty_bundle(api, pcn, history):
    response = list_page(api, pcn, _lastUpdated=f"gt{stamp(timezone.now())}")
    assert response.status_code == 200
    validate(response.json(), "Bundle")
    assert "entry" not in response.json()


def test_count_is_capped_at_1000(api, pcn, history):
    base, _ = history
    response = list_page(
        api, pcn, _lastUpdated=f"gt{stamp(base - timedelta(seconds=1))}", _count=5000
    )
    assert response.status_code == 200
    assert len(response.json()["entry"]) == 6


def test_default_page_size(api, pcn, history):
    base, _ = history
    response = list_page(api, pcn, _lastUpdated=f"gt{stamp(base - timedelta(seconds=1))}")
    assert len(response.json()["entry"]) == 6


@pytest.mark.parametrize(
    "params",
    [
        {"_lastUpdated": "ge2026-11-25T10:00:00+00:00"},
        {"_lastUpdated": "lt2026-11-25T10:00:00+00:00"},
        {"_lastUpdated": "2026-11-25T10:00:00+00:00"},
        {"_lastUpdated": "gtyesterday"},
        {"_lastUpdated": "gt2026-11-25"},
        {"_lastUpdated": "gt2026-11-25T10:00:00"},
        {"_lastUpdated": "gt2026-11-25T10:00:00+00:00", "_count": "0"},
        {"_lastUpdated": "gt2026-11-25T10:00:00+00:00", "_count": "ten"},
        {"_lastUpdated": "gt2026-11-25T10:00:00+00:00", "_sort": "start"},
        {"_lastUpdated": "gt2026-11-25T10:00:00+00:00", "cursor": "bm90LWEtY3Vyc29y"},
        {"_lastUpdated": "gt2026-11-25T10:00:00+00:00", "cursor": "%%%"},
    ],
)
def test_bad_parameters_are_invalid_parameter(api, pcn, params):
    response = list_page(api, pcn, **params)
    assert response.status_code == 422
    assert outcome_code(response) == gpc.ERR_INVALID_PARAMETER


def test_missing_last_updated_is_bad_request(api, pcn):
    response = list_page(api, pcn, _count=10)
    assert response.status_code == 400
    assert outcome_code(response) == gpc.ERR_BAD_REQUEST


def test_list_uses_its_own_interaction_id(api, pcn):
    sent = headers(pcn, gpc.INTERACTION_BOOK)
    response = api.get(
        f"{fhir_base(pcn)}/Appointment?_lastUpdated=gt2026-01-01T00:00:00%2B00:00", headers=sent
    )
    assert response.status_code == 400
