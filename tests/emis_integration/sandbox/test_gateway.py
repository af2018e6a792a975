"""Every request: organisation lookup, fault knobs, Ssp-* headers, the JWT, and
the response headers."""

from __future__ import annotations

import time

import jwt
import pytest
from django.core.exceptions import ValidationError

from emis_integration import gpconnect as gpc
from emis_integration.sandbox import services

from .helpers import claims, fhir_base, headers, outcome_code, token, validate

METADATA = gpc.INTERACTION_METADATA


def get_metadata(api, organisation, **header_overrides):
    sent = headers(organisation, METADATA)
    sent.update(header_overrides)
    return api.get(f"{fhir_base(organisation)}/metadata", headers=sent)


def test_metadata_is_a_valid_capability_statement(api, pcn):
    response = get_metadata(api, pcn)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/fhir+json; charset=utf-8"
    assert response["Cache-Control"] == "no-store"
    statement = validate(response.json(), "CapabilityStatement")
    assert statement.fhirVersion == "3.0.1"
    slot = next(r for r in response.json()["rest"][0]["resource"] if r["type"] == "Slot")
    assert "Location:managingOrganization" in slot["searchInclude"]


def test_unknown_ods_is_organisation_not_found(api, pcn):
    response = api.get(fhir_base("ZZ999") + "/metadata", headers=headers(pcn, METADATA))
    assert response.status_code == 404
    assert outcome_code(response) == gpc.ERR_ORGANISATION_NOT_FOUND
    assert response["Cache-Control"] == "no-store"
    assert response["Content-Type"] == "application/fhir+json; charset=utf-8"


def test_unsupported_resource_is_not_implemented(api, pcn):
    response = api.get(fhir_base(pcn) + "/Practitioner/1", headers=headers(pcn, METADATA))
    assert response.status_code == 501
    assert outcome_code(response) == gpc.ERR_NOT_IMPLEMENTED


def test_wrong_method_is_405_with_allow(api, pcn):
    response = api.delete(f"{fhir_base(pcn)}/metadata", headers=headers(pcn, METADATA))
    assert response.status_code == 405
    assert response["Allow"] == "GET"
    assert outcome_code(response) == gpc.ERR_BAD_REQUEST


def test_an_appointment_search_is_refused_as_gp_connect_has_none(api, pcn):
    """GP Connect has no organisation-wide appointment list (the poller uses the
    EMIS Partner API): a GET on /Appointment is refused, as a provider refuses it."""
    response = api.get(
        f"{fhir_base(pcn)}/Appointment?_lastUpdated=gt2026-01-01T00:00:00%2B00:00",
        headers=headers(pcn, gpc.INTERACTION_BOOK),
    )
    assert response.status_code == 405
    assert response["Allow"] == "POST"


@pytest.mark.parametrize(
    "header", ["Ssp-TraceID", "Ssp-From", "Ssp-InteractionID", "Authorization"]
)
def test_missing_header_is_bad_request(api, pcn, header):
    sent = headers(pcn, METADATA)
    del sent[header]
    response = api.get(f"{fhir_base(pcn)}/metadata", headers=sent)
    assert response.status_code == 400
    assert outcome_code(response) == gpc.ERR_BAD_REQUEST
    assert header in response.json()["issue"][0]["diagnostics"]


def test_trace_id_must_be_a_uuid(api, pcn):
    response = get_metadata(api, pcn, **{"Ssp-TraceID": "not-a-uuid"})
    assert response.status_code == 400


def test_wrong_ssp_to_is_access_denied_403(api, pcn):
    response = get_metadata(api, pcn, **{"Ssp-To": "999999999999"})
    assert response.status_code == 403
    assert outcome_code(response) == gpc.ERR_ACCESS_DENIED


def test_wrong_interaction_id_is_bad_request(api, pcn):
    response = get_metadata(api, pcn, **{"Ssp-InteractionID": gpc.INTERACTION_SEARCH_SLOTS})
    assert response.status_code == 400
    assert outcome_code(response) == gpc.ERR_BAD_REQUEST


def test_authorization_must_be_bearer(api, pcn):
    response = get_metadata(api, pcn, Authorization="Basic abc")
    assert response.status_code == 400


def test_garbage_token_is_bad_request(api, pcn):
    response = get_metadata(api, pcn, Authorization="Bearer not.a.jwt")
    assert response.status_code == 400
    assert outcome_code(response) == gpc.ERR_BAD_REQUEST


def test_wrong_signature_is_access_denied_401(api, pcn):
    bearer = token(pcn, secret="some-other-secret-0123456789abcdef0123")
    response = get_metadata(api, pcn, Authorization=f"Bearer {bearer}")
    assert response.status_code == 401
    assert outcome_code(response) == gpc.ERR_ACCESS_DENIED


def unsigned(payload):
    """The GP Connect form over Spine: alg none, an empty signature."""
    return jwt.encode(payload, None, algorithm="none")


def test_unsigned_token_is_accepted_as_over_spine(api, pcn):
    bearer = unsigned(claims(pcn))
    assert bearer.endswith(".")
    assert get_metadata(api, pcn, Authorization=f"Bearer {bearer}").status_code == 200


def test_unsigned_token_with_a_signature_part_is_access_denied(api, pcn):
    bearer = unsigned(claims(pcn)) + "c2lnbmF0dXJl"
    response = get_metadata(api, pcn, Authorization=f"Bearer {bearer}")
    assert response.status_code == 401
    assert outcome_code(response) == gpc.ERR_ACCESS_DENIED


def test_other_algorithms_are_access_denied(api, pcn):
    bearer = jwt.encode(claims(pcn), "k" * 64, algorithm="HS512")
    response = get_metadata(api, pcn, Authorization=f"Bearer {bearer}")
    assert response.status_code == 401
    assert "alg" in response.json()["issue"][0]["diagnostics"]


def test_unsigned_expired_token_is_bad_request(api, pcn):
    bearer = unsigned(claims(pcn, iat=int(time.time()) - 600))
    response = get_metadata(api, pcn, Authorization=f"Bearer {bearer}")
    assert response.status_code == 400
    assert "expired" in response.json()["issue"][0]["diagnostics"]


def test_unsigned_token_issued_in_the_future_is_bad_request(api, pcn):
    bearer = unsigned(claims(pcn, iat=int(time.time()) + 200))
    assert get_metadata(api, pcn, Authorization=f"Bearer {bearer}").status_code == 400


@pytest.mark.parametrize("lifetime", [299, 301])
def test_unsigned_lifetime_must_be_exactly_300_seconds(api, pcn, lifetime):
    bearer = unsigned(claims(pcn, lifetime=lifetime))
    assert get_metadata(api, pcn, Authorization=f"Bearer {bearer}").status_code == 400


def test_expired_token_is_bad_request(api, pcn):
    bearer = token(pcn, iat=int(time.time()) - 600)  # expired 300 s ago, beyond the leeway
    response = get_metadata(api, pcn, Authorization=f"Bearer {bearer}")
    assert response.status_code == 400
    assert "expired" in response.json()["issue"][0]["diagnostics"]


def test_recently_expired_token_is_within_leeway(api, pcn):
    bearer = token(pcn, iat=int(time.time()) - 330)  # expired 30 s ago
    assert get_metadata(api, pcn, Authorization=f"Bearer {bearer}").status_code == 200


def test_token_issued_in_the_future_is_bad_request(api, pcn):
    bearer = token(pcn, iat=int(time.time()) + 200)
    assert get_metadata(api, pcn, Authorization=f"Bearer {bearer}").status_code == 400


@pytest.mark.parametrize("lifetime", [299, 301, -1])
def test_lifetime_must_be_exactly_300_seconds(api, pcn, lifetime):
    bearer = token(pcn, lifetime=lifetime)
    response = get_metadata(api, pcn, Authorization=f"Bearer {bearer}")
    assert response.status_code == 400


@pytest.mark.parametrize(
    "change",
    [
        {"reason_for_request": "secondarycare"},
        {"requested_scope": "encounter/*.read"},
        {"requesting_organization": None},
        {"requesting_organization": {"resourceType": "Organization", "name": "No ODS"}},
        {"requesting_organization": {"resourceType": "Device", "identifier": []}},
        {"requesting_device": None},
        {"requesting_practitioner": None},
        {"sub": None},
        {"iat": None},
    ],
)
def test_malformed_claims_are_bad_request(api, pcn, change):
    payload = claims(pcn)
    for name, value in change.items():
        if value is None:
            payload.pop(name)
        else:
            payload[name] = value
    for bearer in (token(pcn, payload=payload), unsigned(payload)):
        response = get_metadata(api, pcn, Authorization=f"Bearer {bearer}")
        assert response.status_code == 400
        assert outcome_code(response) == gpc.ERR_BAD_REQUEST


# --- fault knobs -------------------------------------------------------------------------
def test_reject_auth_knob_is_401_even_with_good_credentials(api, pcn):
    services.organisation_set_faults(organisation=pcn, reject_auth=True)
    response = get_metadata(api, pcn)
    assert response.status_code == 401
    assert outcome_code(response) == gpc.ERR_ACCESS_DENIED


def test_error_rate_one_is_always_500(api, pcn):
    services.organisation_set_faults(organisation=pcn, error_rate=1.0)
    for _ in range(3):
        response = get_metadata(api, pcn)
        assert response.status_code == 500
        assert outcome_code(response) == gpc.ERR_INTERNAL_SERVER_ERROR


def test_error_rate_zero_never_fails(api, pcn):
    services.organisation_set_faults(organisation=pcn, error_rate=0.0)
    assert all(get_metadata(api, pcn).status_code == 200 for _ in range(3))


def test_commit_then_fail_mode_is_set_and_checked(pcn):
    services.organisation_set_faults(
        organisation=pcn, commit_then_fail=True, commit_then_fail_mode="timeout"
    )
    pcn.refresh_from_db()
    assert (pcn.commit_then_fail, pcn.commit_then_fail_mode) == (True, "timeout")
    with pytest.raises(ValidationError):
        services.organisation_set_faults(organisation=pcn, commit_then_fail_mode="hang")


def test_latency_is_added(api, pcn):
    services.organisation_set_faults(organisation=pcn, latency_ms=150)
    started = time.perf_counter()
    response = get_metadata(api, pcn)
    assert response.status_code == 200
    assert time.perf_counter() - started >= 0.15


def test_force_timeout_sleeps_then_answers(api, pcn):
    services.organisation_set_faults(organisation=pcn, force_timeout=True, timeout_seconds=1)
    started = time.perf_counter()
    response = get_metadata(api, pcn)
    assert time.perf_counter() - started >= 1.0
    assert response.status_code == 200


def test_fault_knobs_apply_before_header_checks(api, pcn):
    services.organisation_set_faults(organisation=pcn, reject_auth=True)
    response = api.get(f"{fhir_base(pcn)}/metadata")
    assert response.status_code == 401


def test_fault_knobs_are_bounded(pcn):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        services.organisation_set_faults(organisation=pcn, error_rate=1.5)
    with pytest.raises(ValidationError):
        services.organisation_set_faults(organisation=pcn, timeout_seconds=31)
    pcn.refresh_from_db()
    assert pcn.error_rate == 0.0
    assert pcn.timeout_seconds == 15
