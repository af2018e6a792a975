"""What every sandbox request goes through before its endpoint runs: the
organisation's fault knobs, then its credentials: for GP Connect the Ssp-*
headers and the bearer JWT (docs/emis-wire-contract.md, "Every request"), for
the Partner API the applicationId header and the bearer token
(docs/emis-partner-api-contract.md, "Every request")."""

from __future__ import annotations

import hmac
import random
import re
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import jwt
import msgspec
from django.http import HttpRequest, HttpResponse

from emis_integration import gpconnect as gpc

from .errors import AccessDenied, BadRequest, InternalServerError
from .models import MAX_TIMEOUT_SECONDS, SandboxOrganisation
from .types import Requester

JWT_LEEWAY_SECONDS = 60
ASID_PATTERN = re.compile(r"[0-9]{12}")
VALID_SCOPES = frozenset(
    {
        gpc.SCOPE_ORGANISATION_READ,
        gpc.SCOPE_ORGANISATION_WRITE,
        gpc.SCOPE_PATIENT_READ,
        gpc.SCOPE_PATIENT_WRITE,
    }
)


def apply_faults(
    organisation: SandboxOrganisation,
    *,
    sleep: Callable[[float], None] = time.sleep,
    chance: Callable[[], float] = random.random,
) -> None:
    """The knobs, in order: reject auth, latency, error rate, forced timeout."""
    if organisation.reject_auth:
        raise AccessDenied(
            f"{organisation.ods_code} rejects every credential (the sandbox's reject_auth "
            "fault knob is on)."
        )
    if organisation.latency_ms:
        sleep(organisation.latency_ms / 1000)
    if organisation.error_rate > 0 and chance() < organisation.error_rate:
        raise InternalServerError(
            f"Simulated failure: {organisation.ods_code} fails "
            f"{organisation.error_rate:.0%} of requests (the sandbox's error_rate fault knob)."
        )
    if organisation.force_timeout:
        sleep(float(min(max(organisation.timeout_seconds, 1), MAX_TIMEOUT_SECONDS)))


def _header(request: HttpRequest, name: str) -> str:
    value = (request.headers.get(name) or "").strip()
    if not value:
        raise BadRequest(f"The {name} header is missing.")
    return value


def check_headers(
    request: HttpRequest, *, organisation: SandboxOrganisation, interaction: str
) -> str:
    """Validate the Ssp-* headers; return the bearer token."""
    trace_id = _header(request, "Ssp-TraceID")
    try:
        uuid.UUID(trace_id)
    except ValueError:
        raise BadRequest(f"Ssp-TraceID must be a UUID, not {trace_id[:60]!r}.") from None
    sender = _header(request, "Ssp-From")
    if not ASID_PATTERN.fullmatch(sender):
        raise BadRequest(f"Ssp-From must be the consumer's 12-digit ASID, not {sender[:60]!r}.")
    receiver = _header(request, "Ssp-To")
    if receiver != organisation.asid:
        raise AccessDenied(
            f"Ssp-To {receiver[:60]!r} is not the ASID of {organisation.ods_code}.", status=403
        )
    interaction_id = _header(request, "Ssp-InteractionID")
    if interaction_id != interaction:
        raise BadRequest(
            f"Ssp-InteractionID {interaction_id[:120]!r} does not match this request; "
            f"expected {interaction}."
        )
    authorization = _header(request, "Authorization")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise BadRequest("The Authorization header must be 'Bearer <JWT>'.")
    return token.strip()


def _fhir_resource(claims: Mapping[str, Any], name: str, resource_type: str) -> Mapping[str, Any]:
    value = claims.get(name)
    if not isinstance(value, Mapping):
        raise BadRequest(f"The JWT has no {name} claim (a FHIR {resource_type}).")
    if value.get("resourceType") != resource_type:
        raise BadRequest(f"The JWT's {name} must be a FHIR {resource_type} resource.")
    return value


def _requesting_ods(organisation: Mapping[str, Any]) -> str:
    identifiers = organisation.get("identifier")
    if isinstance(identifiers, list):
        for identifier in identifiers:
            if (
                isinstance(identifier, Mapping)
                and identifier.get("system") == gpc.ODS_ORGANISATION_SYSTEM
                and isinstance(identifier.get("value"), str)
                and identifier["value"].strip()
            ):
                return identifier["value"].strip().upper()
    raise BadRequest(
        "The JWT's requesting_organization has no identifier with the ODS organisation "
        f"code system ({gpc.ODS_ORGANISATION_SYSTEM})."
    )


def verify_jwt(token: str, *, secret: str) -> Requester:
    """GP Connect over Spine sends the JWT unsigned (`alg: none`, an empty
    signature: TLS mutual authentication vouches for the caller), which is
    accepted; a signed one (HS256) must verify with the organisation's client
    secret. A bad signature or another algorithm → 401; anything else wrong
    with the token or its claims (every claim is checked either way) → 400."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        raise BadRequest("The bearer token is not a well-formed JWT.") from None
    algorithm = header.get("alg")
    if algorithm == "none":
        if token.rsplit(".", 1)[-1]:
            raise AccessDenied("An unsigned JWT (alg none) must have an empty signature.")
        key, verify_signature = "", False
    elif algorithm == "HS256":
        key, verify_signature = secret, True
    else:
        raise AccessDenied(
            "The JWT must be unsigned (alg none, as over Spine) or signed with HS256 using "
            f"the organisation's client secret (alg was {str(algorithm)[:20]!r})."
        )
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=["HS256"] if verify_signature else None,
            leeway=JWT_LEEWAY_SECONDS,
            options={
                "verify_signature": verify_signature,
                "verify_exp": True,
                "verify_iat": True,
                "require": ["iat", "exp"],
                "verify_aud": False,
            },
        )
    except jwt.InvalidSignatureError:
        raise AccessDenied(
            "The JWT signature does not verify with this organisation's client secret."
        ) from None
    except jwt.ExpiredSignatureError:
        raise BadRequest("The JWT has expired (exp is in the past).") from None
    except jwt.ImmatureSignatureError:
        raise BadRequest("The JWT was issued in the future (iat is after now).") from None
    except jwt.MissingRequiredClaimError as exc:
        raise BadRequest(f"The JWT has no {exc.claim} claim.") from None
    except jwt.InvalidTokenError as exc:
        raise BadRequest(f"The JWT is malformed: {exc}.") from None
    return _check_claims(claims)


def _check_claims(claims: Mapping[str, Any]) -> Requester:
    iat, exp = claims.get("iat"), claims.get("exp")
    if not isinstance(iat, int) or not isinstance(exp, int):
        raise BadRequest("The JWT's iat and exp must be whole seconds.")
    if exp - iat != gpc.JWT_LIFETIME_SECONDS:
        raise BadRequest(
            f"The JWT's exp must be exactly {gpc.JWT_LIFETIME_SECONDS} seconds after iat "
            f"(it is {exp - iat})."
        )
    for name in ("iss", "sub", "aud"):
        value = claims.get(name)
        if not isinstance(value, str) or not value.strip():
            raise BadRequest(f"The JWT has no {name} claim.")
    if claims.get("reason_for_request") != gpc.REASON_FOR_REQUEST:
        raise BadRequest(f"The JWT's reason_for_request must be {gpc.REASON_FOR_REQUEST!r}.")
    scope = claims.get("requested_scope")
    if scope not in VALID_SCOPES:
        raise BadRequest(
            f"The JWT's requested_scope must be one of {', '.join(sorted(VALID_SCOPES))}."
        )
    _fhir_resource(claims, "requesting_device", "Device")
    _fhir_resource(claims, "requesting_practitioner", "Practitioner")
    organisation = _fhir_resource(claims, "requesting_organization", "Organization")
    ods_code = _requesting_ods(organisation)
    organisation_name = organisation.get("name")
    return Requester(
        ods_code=ods_code,
        name=organisation_name.strip() if isinstance(organisation_name, str) else "",
        scope=str(scope),
    )


def authenticate(
    request: HttpRequest, *, organisation: SandboxOrganisation, interaction: str
) -> Requester:
    token = check_headers(request, organisation=organisation, interaction=interaction)
    return verify_jwt(token, secret=organisation.client_secret)


def authenticate_partner(request: HttpRequest, *, organisation: SandboxOrganisation) -> None:
    """The Partner API's credentials (docs/emis-partner-api-contract.md, "Every
    request"): the applicationId header and `Authorization: Bearer <token>` must
    be the organisation's; anything missing or wrong, or the Partner API switched
    off (no credentials set), → 401."""
    if not organisation.partner_api_enabled:
        raise AccessDenied(f"The Partner API is not enabled for {organisation.ods_code}.")
    application_id = (request.headers.get("applicationId") or "").strip()
    if not application_id:
        raise AccessDenied("The applicationId header is missing.")
    if not hmac.compare_digest(
        application_id.encode(), organisation.partner_application_id.encode()
    ):
        raise AccessDenied(
            f"The applicationId is not the one {organisation.ods_code} knows for this supplier."
        )
    scheme, _, token = (request.headers.get("Authorization") or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AccessDenied("The Authorization header must be 'Bearer <access token>'.")
    if not hmac.compare_digest(token.strip().encode(), organisation.partner_token.encode()):
        raise AccessDenied(f"The access token is not valid for {organisation.ods_code}.")


def json_response(
    body: dict[str, Any],
    *,
    content_type: str,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> HttpResponse:
    """A JSON answer that is never cached, for both interfaces the sandbox
    serves. msgspec writes the same JSON as json.dumps (compactly), several
    times faster: the poller reads hundreds of slots a call."""
    response = HttpResponse(msgspec.json.encode(body), status=status, content_type=content_type)
    response["Cache-Control"] = "no-store"
    for name, value in (headers or {}).items():
        response[name] = value
    return response
