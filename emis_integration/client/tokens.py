"""The GP Connect bearer JWT: who is asking, for what, on whose behalf."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import jwt

from emis_integration import gpconnect as gpc

DEVICE_SYSTEM = "https://hippo-pcn.nhs.uk/Id/device"
LOCAL_USER_SYSTEM = "https://hippo-pcn.nhs.uk/Id/user"


@dataclass(frozen=True, slots=True)
class Requester:
    """The organisation and person on whose behalf a call is made."""

    organisation_ods: str
    organisation_name: str
    # Its GPConnect-OrganisationType-1 code (gpc.ORG_TYPE_*): the slot search's
    # organisation-type filter.
    organisation_type: str
    practitioner_id: str
    family_name: str
    given_name: str = ""
    prefix: str = ""
    sds_user_id: str = "UNK"
    sds_role_profile_id: str = "UNK"


def system_requester(
    *, organisation_ods: str, organisation_name: str, organisation_type: str, name: str
) -> Requester:
    """For work hippo-pcn does on its own (the poller, slot refresh)."""
    return Requester(
        organisation_ods=organisation_ods,
        organisation_name=organisation_name,
        organisation_type=organisation_type,
        practitioner_id=f"system-{name}",
        family_name="hippo-pcn",
        given_name=name,
    )


def build_claims(
    *,
    requester: Requester,
    audience: str,
    issuer: str,
    scope: str,
    now: int | None = None,
    version: str = "1",
) -> dict[str, Any]:
    issued = int(now if now is not None else time.time())
    name: dict[str, Any] = {"family": requester.family_name}
    if requester.given_name:
        name["given"] = [requester.given_name]
    if requester.prefix:
        name["prefix"] = [requester.prefix]
    return {
        "iss": issuer,
        "sub": requester.practitioner_id,
        "aud": audience,
        "iat": issued,
        "exp": issued + gpc.JWT_LIFETIME_SECONDS,
        "reason_for_request": gpc.REASON_FOR_REQUEST,
        "requested_scope": scope,
        "requesting_device": {
            "resourceType": "Device",
            "identifier": [{"system": DEVICE_SYSTEM, "value": "hippo-pcn"}],
            "model": "hippo-pcn",
            "version": version,
        },
        "requesting_organization": {
            "resourceType": "Organization",
            "identifier": [
                {"system": gpc.ODS_ORGANISATION_SYSTEM, "value": requester.organisation_ods}
            ],
            "name": requester.organisation_name,
        },
        "requesting_practitioner": {
            "resourceType": "Practitioner",
            "id": requester.practitioner_id,
            "identifier": [
                {"system": gpc.SDS_USER_SYSTEM, "value": requester.sds_user_id},
                {"system": gpc.SDS_ROLE_PROFILE_SYSTEM, "value": requester.sds_role_profile_id},
                {"system": LOCAL_USER_SYSTEM, "value": requester.practitioner_id},
            ],
            "name": [name],
        },
    }


def encode(claims: dict[str, Any], *, secret: str = "", sign: bool = False) -> str:
    """The GP Connect form by default: unsigned (`alg: none`, an empty signature:
    over Spine, TLS mutual authentication vouches for the caller). With `sign`
    (a connection whose provider asks for it), HS256 with the client secret."""
    if sign:
        if not secret:
            raise ValueError("Signing the GP Connect JWT needs the connection's client secret.")
        return jwt.encode(claims, secret, algorithm="HS256")
    return jwt.encode(claims, None, algorithm="none")  # type: ignore[arg-type]
