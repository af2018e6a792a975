"""Slot search: parameters, windows, includes, booking restrictions."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.utils import timezone

from emis_integration import gpconnect as gpc
from emis_integration.sandbox.models import SlotStatus

from .conftest import tomorrow_at
from .helpers import fhir_base, headers, outcome_code, validate

SEARCH = gpc.INTERACTION_SEARCH_SLOTS
INCLUDES = [
    ("_include", "Slot:schedule"),
    ("_include:recurse", "Schedule:actor:Practitioner"),
    ("_include:recurse", "Schedule:actor:Location"),
    ("_include:recurse", "Location:managingOrganization"),
]


def _params(start: str, end: str, status: str = "free", extra=()):
    params = []
    if start is not None:
        params.append(("start", start))
    if end is not None:
        params.append(("end", end))
    if status is not None:
        params.append(("status", status))
    return params + INCLUDES + list(extra)


def search(api, organisation, params, requester_ods="A10001"):
    return api.get(
        f"{fhir_base(organisation)}/Slot?{urlencode(params)}",
        headers=headers(organisation, SEARCH, requester_ods=requester_ods),
    )


def window(days: int = 7):
    today = timezone.localdate()
    return f"ge{today.isoformat()}", f"le{(today + timedelta(days=days)).isoformat()}"


def slot_ids(response) -> list[str]:
    return [
        e["resource"]["id"]
        for e in response.json().get("entry", [])
        if e["search"]["mode"] == "match"
    ]


def test_search_returns_free_slots_with_includes(api, pcn, practice, slot, make_slot):
    later = make_slot(tomorrow_at(11))
    start, end = window()
    response = search(api, pcn, _params(start, end))
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    bundle = response.json()
    validate(bundle, "Bundle")
    assert bundle["type"] == "searchset"
    assert slot_ids(response) == [str(slot.pk), str(later.pk)]
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds.count("Schedule") == 1
    assert kinds.count("Practitioner") == 1
    assert kinds.count("Location") == 1
    assert kinds.count("Organization") == 1
    resources = {e["resource"]["resourceType"]: e["resource"] for e in bundle["entry"]}
    first = bundle["entry"][0]
    assert first["fullUrl"] == f"http://testserver{fhir_base(pcn)}/Slot/{slot.pk}"
    assert first["resource"]["serviceType"] == [{"text": "Flu vaccination"}]
    assert first["resource"]["extension"] == [
        {"url": gpc.EXT_DELIVERY_CHANNEL, "valueCode": "In-person"}
    ]
    assert first["resource"]["meta"]["profile"] == [gpc.PROFILE_SLOT]
    assert resources["Location"]["address"]["line"] == [
        "Castle Street Health Centre",
        "12 Castle Street",
    ]
    assert resources["Location"]["managingOrganization"] == {"reference": f"Organization/{pcn.pk}"}
    assert resources["Organization"]["identifier"][0] == {
        "system": gpc.ODS_ORGANISATION_SYSTEM,
        "value": "U10001",
    }
    assert resources["Practitioner"]["name"][0]["prefix"] == ["Dr"]
    assert resources["Schedule"]["serviceCategory"] == {"text": "Vaccinations"}
    assert {a["reference"] for a in resources["Schedule"]["actor"]} == {
        f"Location/{slot.schedule.site_id}",
        f"Practitioner/{slot.schedule.practitioner_id}",
    }


def test_includes_are_honoured(api, pcn, slot):
    start, end = window()
    params = [("start", start), ("end", end), ("status", "free"), ("_include", "Slot:schedule")]
    response = search(api, pcn, params)
    assert response.status_code == 200
    kinds = {e["resource"]["resourceType"] for e in response.json()["entry"]}
    assert kinds == {"Slot", "Schedule"}


def test_instant_window_as_the_client_sends_it(api, pcn, slot):
    start = slot.start - timedelta(hours=1)
    end = slot.end + timedelta(hours=1)
    params = _params(f"ge{start.isoformat()}", f"le{end.isoformat()}")
    response = search(api, pcn, params)
    assert response.status_code == 200
    assert slot_ids(response) == [str(slot.pk)]


def test_slots_must_fall_fully_inside_the_window(api, pcn, slot):
    params = _params(
        f"ge{slot.start.isoformat()}", f"le{(slot.end - timedelta(minutes=1)).isoformat()}"
    )
    response = search(api, pcn, params)
    assert response.status_code == 200
    assert slot_ids(response) == []
    assert "entry" not in response.json()


def test_booked_and_past_slots_are_not_returned(api, pcn, slot, make_slot):
    make_slot(timezone.now() - timedelta(hours=2))
    busy = make_slot(tomorrow_at(12))
    busy.status = SlotStatus.BUSY
    busy.save()
    start = f"ge{(timezone.localdate() - timedelta(days=1)).isoformat()}"
    response = search(api, pcn, _params(start, window()[1]))
    assert slot_ids(response) == [str(slot.pk)]


@pytest.mark.parametrize("days", [0, 8, 14])
def test_windows_up_to_14_days_are_accepted(api, pcn, days):
    response = search(api, pcn, _params(*window(days)))
    assert response.status_code == 200
    validate(response.json(), "Bundle")


@pytest.mark.parametrize("days", [15, 31, -1])
def test_bad_window_is_invalid_parameter(api, pcn, days):
    response = search(api, pcn, _params(*window(days)))
    assert response.status_code == 422
    assert outcome_code(response) == gpc.ERR_INVALID_PARAMETER


def test_instant_window_over_14_days_is_invalid(api, pcn):
    start = timezone.now()
    end = start + timedelta(days=14, seconds=1)
    response = search(api, pcn, _params(f"ge{start.isoformat()}", f"le{end.isoformat()}"))
    assert response.status_code == 422


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("{d}", "le{e}"),  # no prefix at all
        ("lt{d}", "le{e}"),
        ("gt{d}", "gt{e}"),
        ("le{d}", "ge{e}"),
        ("eq{d}", "eq{e}"),
        ("ne{d}", "le{e}"),
        ("ge{d}", "lt{e}"),
        ("ge{d}", "{e}"),
        ("geinvalidStartDate", "le{e}"),
        ("ge", "le{e}"),
        ("ge{d}", "leinvalidEndDate"),
        ("ge{d}T10:00:00", "le{e}T10:00:00"),  # no time zone
        ("ge2026", "le2026-12"),
        ("ge9999-12-31", "le9999-12-31"),
    ],
)
def test_wrong_prefixes_and_values_are_invalid_parameter(api, pcn, start, end):
    today = timezone.localdate()
    values = {"d": today.isoformat(), "e": (today + timedelta(days=3)).isoformat()}
    response = search(api, pcn, _params(start.format(**values), end.format(**values)))
    assert response.status_code == 422
    assert outcome_code(response) == gpc.ERR_INVALID_PARAMETER


def test_start_without_ge_example_from_the_brief(api, pcn):
    response = search(api, pcn, _params("2026-11-25", "le2026-11-26"))
    assert response.status_code == 422


def test_end_before_start_is_invalid_parameter(api, pcn):
    today = timezone.localdate()
    params = _params(f"ge{today + timedelta(days=3)}", f"le{today}")
    response = search(api, pcn, params)
    assert response.status_code == 422
    assert "before start" in response.json()["issue"][0]["diagnostics"]


@pytest.mark.parametrize("missing", ["start", "end", "status", "start,end"])
def test_missing_parameter_is_bad_request(api, pcn, missing):
    start, end = window()
    values = {"start": start, "end": end, "status": "free"}
    for name in missing.split(","):
        values[name] = None
    response = search(api, pcn, _params(values["start"], values["end"], values["status"]))
    assert response.status_code == 400
    assert outcome_code(response) == gpc.ERR_BAD_REQUEST


def test_status_other_than_free_is_invalid_parameter(api, pcn):
    response = search(api, pcn, _params(*window(), status="busy"))
    assert response.status_code == 422
    assert outcome_code(response) == gpc.ERR_INVALID_PARAMETER


def test_unknown_search_filters_are_ignored(api, pcn, slot):
    extra = [("searchFilter", "https://example.org/disposition|Dx01"), ("searchFilter", "junk")]
    response = search(api, pcn, _params(*window(), extra=extra))
    assert response.status_code == 200
    assert slot_ids(response) == [str(slot.pk)]


def test_restrictions_by_ods_code(api, pcn, practice, practice2, make_slot):
    mine = make_slot(tomorrow_at(9), allowed_ods=["A10001", "U10001"])
    theirs = make_slot(tomorrow_at(10), allowed_ods=["A10002"])
    anyone = make_slot(tomorrow_at(11))
    params = _params(*window())
    assert slot_ids(search(api, pcn, params, "A10001")) == [str(mine.pk), str(anyone.pk)]
    assert slot_ids(search(api, pcn, params, "A10002")) == [str(theirs.pk), str(anyone.pk)]
    assert slot_ids(search(api, pcn, params, "U10001")) == [str(mine.pk), str(anyone.pk)]


def _typed(params, org_type):
    return params + [("searchFilter", f"{gpc.SEARCH_FILTER_ORG_TYPE}|{org_type}")]


def test_restrictions_by_organisation_type(api, pcn, practice, outsider, make_slot):
    practices_only = make_slot(tomorrow_at(9), allowed_org_types=["gp-practice"])
    pcns_only = make_slot(tomorrow_at(10), allowed_org_types=["pcn"])
    params = _params(*window())
    # The requester's type is what the request's org-type searchFilter says.
    assert slot_ids(search(api, pcn, _typed(params, "gp-practice"), "C30001")) == [
        str(practices_only.pk)
    ]
    assert slot_ids(search(api, pcn, _typed(params, "pcn"), "U10001")) == [str(pcns_only.pk)]
    assert slot_ids(search(api, pcn, _typed(params, "urgent-care"), "X99999")) == []
    assert slot_ids(search(api, pcn, _typed(params, "gp-practice"), "X99999")) == [
        str(practices_only.pk)
    ]


def test_type_restricted_slots_are_hidden_without_a_matching_type_filter(
    api, pcn, practice, outsider, make_slot
):
    """As a provider does: the sandbox does not look the requester's type up
    (not even for an organisation it knows); a slot restricted by type is hidden
    unless the request's filter names that type."""
    practices_only = make_slot(tomorrow_at(9), allowed_org_types=["gp-practice"])
    anyone = make_slot(tomorrow_at(11))
    params = _params(*window())
    assert slot_ids(search(api, pcn, params, "C30001")) == [str(anyone.pk)]
    assert slot_ids(search(api, pcn, _typed(params, "pcn"), "C30001")) == [str(anyone.pk)]
    assert slot_ids(search(api, pcn, _typed(params, "gp-practice"), "C30001")) == [
        str(practices_only.pk),
        str(anyone.pk),
    ]


def test_unencoded_plus_in_offset_is_tolerated(api, pcn, slot):
    start = timezone.localtime(slot.start - timedelta(hours=1)).isoformat()
    end = timezone.localtime(slot.end + timedelta(hours=1)).isoformat()
    query = f"start=ge{start}&end=le{end}&status=free&_include=Slot:schedule"
    response = api.get(f"{fhir_base(pcn)}/Slot?{query}", headers=headers(pcn, SEARCH))
    assert response.status_code == 200
    assert slot_ids(response) == [str(slot.pk)]


def test_requester_is_taken_from_the_jwt_not_the_search_filter(
    api, pcn, practice, practice2, make_slot
):
    theirs = make_slot(tomorrow_at(10), allowed_ods=["A10002"])
    extra = [("searchFilter", f"{gpc.SEARCH_FILTER_ODS}|A10002")]
    assert slot_ids(search(api, pcn, _params(*window(), extra=extra), "A10001")) == []
    assert slot_ids(search(api, pcn, _params(*window()), "A10002")) == [str(theirs.pk)]
