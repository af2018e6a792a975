"""Find and register patients."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from emis_integration import gpconnect as gpc
from emis_integration.sandbox.models import Patient, RegistrationType

from .helpers import dumps, fhir_base, headers, outcome_code, validate

NHS = "9434765919"


def find(api, organisation, identifier: str | None):
    params = urlencode({"identifier": identifier}) if identifier is not None else ""
    return api.get(
        f"{fhir_base(organisation)}/Patient?{params}",
        headers=headers(organisation, gpc.INTERACTION_SEARCH_PATIENT, scope=gpc.SCOPE_PATIENT_READ),
    )


def register(api, organisation, body):
    return api.post(
        f"{fhir_base(organisation)}/Patient/$gpc.registerpatient",
        data=dumps(body),
        content_type="application/fhir+json",
        headers=headers(
            organisation, gpc.INTERACTION_REGISTER_PATIENT, scope=gpc.SCOPE_PATIENT_WRITE
        ),
    )


def patient_resource(nhs: str = NHS, **changes):
    resource = {
        "resourceType": "Patient",
        "meta": {"profile": [gpc.PROFILE_PATIENT]},
        "identifier": [{"system": gpc.NHS_NUMBER_SYSTEM, "value": nhs}],
        "name": [{"use": "official", "family": "Smith", "given": ["Jane"]}],
        "gender": "female",
        "birthDate": "1980-04-02",
    }
    resource.update(changes)
    return {
        "resourceType": "Parameters",
        "parameter": [{"name": "registerPatient", "resource": resource}],
    }


def registration_type(patient: dict) -> str:
    details = next(e for e in patient["extension"] if e["url"] == gpc.EXT_REGISTRATION_DETAILS)
    kind = next(e for e in details["extension"] if e["url"] == gpc.EXT_REGISTRATION_TYPE)
    return kind["valueCodeableConcept"]["coding"][0]["code"]


def test_unknown_patient_is_an_empty_bundle_not_404(api, pcn):
    response = find(api, pcn, f"{gpc.NHS_NUMBER_SYSTEM}|{NHS}")
    assert response.status_code == 200
    validate(response.json(), "Bundle")
    assert response.json()["type"] == "searchset"
    assert "entry" not in response.json()


def test_find_a_registered_patient(api, practice, make_patient):
    record = make_patient(practice, NHS)
    response = find(api, practice, f"{gpc.NHS_NUMBER_SYSTEM}|{NHS}")
    assert response.status_code == 200
    validate(response.json(), "Bundle")
    (entry,) = response.json()["entry"]
    patient = entry["resource"]
    validate(patient, "Patient")
    assert patient["id"] == str(record.pk)
    assert registration_type(patient) == "R"
    assert patient["generalPractitioner"][0]["identifier"]["value"] == "A10001"
    assert patient["generalPractitioner"][0]["display"] == "Sandbox A10001"


@pytest.mark.parametrize("value", ["1234567890", "943476591", "94347659199", "abcdefghij"])
def test_invalid_nhs_number_is_400(api, pcn, value):
    response = find(api, pcn, f"{gpc.NHS_NUMBER_SYSTEM}|{value}")
    assert response.status_code == 400
    assert outcome_code(response) == gpc.ERR_INVALID_NHS_NUMBER


@pytest.mark.parametrize("identifier", [None, NHS, f"https://example.org/id|{NHS}"])
def test_missing_or_wrong_identifier_system_is_bad_request(api, pcn, identifier):
    response = find(api, pcn, identifier)
    assert response.status_code == 400
    assert outcome_code(response) == gpc.ERR_BAD_REQUEST


def test_register_then_find(api, pcn, practice, make_patient):
    make_patient(practice, NHS)  # registered at the home practice, not yet at the PCN
    assert "entry" not in find(api, pcn, f"{gpc.NHS_NUMBER_SYSTEM}|{NHS}").json()

    response = register(api, pcn, patient_resource())
    assert response.status_code == 200, response.json()
    bundle = response.json()
    validate(bundle, "Bundle")
    (entry,) = bundle["entry"]
    assert registration_type(entry["resource"]) == gpc.REGISTRATION_TYPE_TEMPORARY
    stored = Patient.objects.get(organisation=pcn, nhs_number=NHS)
    assert stored.registration_type == RegistrationType.TEMPORARY
    assert stored.registered_practice_ods == "A10001"

    found = find(api, pcn, f"{gpc.NHS_NUMBER_SYSTEM}|{NHS}").json()["entry"][0]["resource"]
    assert found["id"] == str(stored.pk)
    assert registration_type(found) == "T"


def test_register_with_optional_telecom_and_address(api, pcn):
    body = patient_resource(
        telecom=[{"system": "phone", "value": "07700 900123", "use": "mobile"}],
        address=[{"use": "temp", "line": ["1 High Street"], "postalCode": "RV1 2AB"}],
    )
    response = register(api, pcn, body)
    assert response.status_code == 200, response.json()
    stored = Patient.objects.get(organisation=pcn, nhs_number=NHS)
    assert stored.registered_practice_ods == ""  # no registration anywhere in the sandbox


@pytest.mark.parametrize(
    "element, value",
    [
        (
            "generalPractitioner",
            [{"identifier": {"system": gpc.ODS_ORGANISATION_SYSTEM, "value": "A10001"}}],
        ),
        ("managingOrganization", {"reference": "Organization/1"}),
        ("deceasedBoolean", False),
        ("deceasedDateTime", "2020-01-01T00:00:00+00:00"),
        ("multipleBirthBoolean", False),
        ("multipleBirthInteger", 2),
        ("photo", [{"contentType": "image/png", "data": "iVBORw0KGgo="}]),
        ("contact", [{"name": {"family": "Smith"}}]),
        ("maritalStatus", {"text": "Married"}),
        ("animal", {"species": {"text": "cat"}}),
        ("link", []),
        ("active", True),
        ("id", "123"),
    ],
)
def test_register_refuses_elements_the_operation_does_not_allow(api, pcn, element, value):
    response = register(api, pcn, patient_resource(**{element: value}))
    assert response.status_code == 422
    assert outcome_code(response) == gpc.ERR_INVALID_RESOURCE
    assert element in response.json()["issue"][0]["diagnostics"]
    assert not Patient.objects.filter(organisation=pcn).exists()


def test_registering_twice_is_duplicate_rejected(api, pcn):
    assert register(api, pcn, patient_resource()).status_code == 200
    response = register(api, pcn, patient_resource())
    assert response.status_code == 409
    assert outcome_code(response) == gpc.ERR_DUPLICATE_REJECTED
    assert Patient.objects.filter(organisation=pcn).count() == 1


def test_registering_an_already_registered_patient_is_duplicate(api, practice, make_patient):
    make_patient(practice, NHS)
    response = register(api, practice, patient_resource())
    assert response.status_code == 409


def test_register_invalid_nhs_number_is_400(api, pcn):
    response = register(api, pcn, patient_resource("1234567890"))
    assert response.status_code == 400
    assert outcome_code(response) == gpc.ERR_INVALID_NHS_NUMBER


@pytest.mark.parametrize(
    "changes",
    [
        {"name": []},
        {"birthDate": None},
        {"birthDate": "02/04/1980"},
        {"gender": "f"},
        {"identifier": []},
        {"extension": [{"url": gpc.EXT_REGISTRATION_DETAILS, "extension": []}]},
    ],
)
def test_register_missing_demographics_is_invalid_resource(api, pcn, changes):
    body = patient_resource(**changes)
    resource = body["parameter"][0]["resource"]
    for key, value in changes.items():
        if value is None:
            resource.pop(key)
    response = register(api, pcn, body)
    assert response.status_code == 422
    assert outcome_code(response) == gpc.ERR_INVALID_RESOURCE


@pytest.mark.parametrize(
    "body",
    [
        {"resourceType": "Patient"},
        {"resourceType": "Parameters", "parameter": []},
        {
            "resourceType": "Parameters",
            "parameter": [{"name": "registerPatient", "resource": {"resourceType": "Device"}}],
        },
    ],
)
def test_register_body_must_be_parameters_with_a_patient(api, pcn, body):
    response = register(api, pcn, body)
    assert response.status_code == 422
    assert outcome_code(response) == gpc.ERR_INVALID_RESOURCE
