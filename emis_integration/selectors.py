"""Reads about EMIS connections and onboarding, and the one place that turns a
connection into a working client."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime

import httpx
from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils.module_loading import import_string

from emis_integration import gpconnect as gpc
from hippo_pcn.organisations.models import Organisation
from hippo_pcn.organisations.roles import OrganisationKind
from hippo_pcn.organisations.selectors import (
    UserLike,
    memberships_for_user,
    organisations_for_user,
    user_is_support,
)

from .client import (
    EmisEndpoint,
    EmisRejected,
    GPConnectClient,
    PartnerApiClient,
    PartnerEndpoint,
    Requester,
    system_requester,
)
from .client.transport import TlsConfig
from .crypto import CredentialsUnreadable, decrypt_credentials
from .models import (
    OPEN_ONBOARDING_STATUSES,
    ConnectionStatus,
    EmisConnection,
    EmisSystem,
    OnboardingRequest,
)


def connections_for_user(*, user: UserLike) -> QuerySet[EmisConnection]:
    qs = EmisConnection.objects.select_related("organisation")
    if user_is_support(user=user):
        return qs
    return qs.filter(organisation__in=organisations_for_user(user=user))


def onboarding_requests_for_user(*, user: UserLike) -> QuerySet[OnboardingRequest]:
    qs = OnboardingRequest.objects.select_related("pcn", "practice", "requested_by", "connection")
    if user_is_support(user=user):
        return qs
    # A practice sees its PCN's requests (as on its PCN connection page); what it sees
    # of them is limited by the admin: another practice's contact details are not shown.
    orgs = organisations_for_user(user=user)
    pcns_of_practices = orgs.filter(pcn__isnull=False).values("pcn_id")
    return qs.filter(
        Q(pcn__in=orgs)
        | Q(pcn__in=pcns_of_practices)
        | Q(practice__in=orgs)
        | Q(requesters__practice__in=orgs)
    ).distinct()


def onboarding_own_practices(*, user: UserLike) -> QuerySet[Organisation]:
    """The practices whose part of an onboarding request (contact, notes) a user may
    see: the practices they are a member of. Another practice's part is for support."""
    if not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
        return Organisation.objects.none()
    return Organisation.objects.filter(
        kind=OrganisationKind.PRACTICE,
        pk__in=memberships_for_user(user=user).values("organisation_id"),
    )


def pcn_connection(*, pcn: Organisation) -> EmisConnection | None:
    return EmisConnection.objects.filter(organisation=pcn, system=EmisSystem.EMIS_COMMUNITY).first()


def live_connection_for(*, organisation: Organisation) -> EmisConnection | None:
    return EmisConnection.objects.filter(
        organisation=organisation, status=ConnectionStatus.LIVE
    ).first()


def open_onboarding_request(*, pcn: Organisation) -> OnboardingRequest | None:
    return (
        OnboardingRequest.objects.filter(pcn=pcn, status__in=OPEN_ONBOARDING_STATUSES)
        .select_related("practice", "requested_by")
        .first()
    )


# --- "why are there no PCN slots?" ----------------------------------------------


@dataclass(frozen=True)
class PcnDiagnosis:
    """Why a practice can or cannot see its PCN's slots, in plain words."""

    state: str  # no_pcn | not_connected | requested | in_progress | testing | suspended | failed | live
    title: str
    message: str
    practice: Organisation
    pcn: Organisation | None
    connection: EmisConnection | None
    open_request: OnboardingRequest | None
    # Has this practice raised or joined the open request? (Whose contact details are
    # on it is for support only: practices see the date and their own part.)
    practice_joined: bool = False

    @property
    def is_live(self) -> bool:
        return self.state == "live"

    @property
    def can_join_request(self) -> bool:
        """Offered while a request is open that another practice raised and this
        practice has not joined (whatever support's progress with the connection):
        joining adds it to support's replies and to the "it is live" email."""
        return self.open_request is not None and not self.practice_joined and not self.is_live

    @property
    def support_reason(self) -> str:
        """Support's stated reason for a failed or suspended connection, as the
        practices may see it: web addresses and long codes (ids, keys) left out."""
        if self.state not in ("failed", "suspended") or self.connection is None:
            return ""
        return reason_for_practices(self.connection.status_reason)

    @property
    def can_request_onboarding(self) -> bool:
        """Offered when nobody has asked yet and support is not already working
        on it (testing and in-progress connections are underway)."""
        return (
            self.pcn is not None and self.open_request is None and self.state in REQUESTABLE_STATES
        )


REQUESTABLE_STATES = frozenset({"not_connected", "requested", "suspended", "failed"})

_ADDRESS = re.compile(r"\b(?:https?://|www\.)\S+", re.IGNORECASE)
# An id, key or token: a run of 12 or more letters, digits, "-" or "_" with a digit in it.
_CODE = re.compile(r"\b(?=[A-Za-z0-9_-]*\d)[A-Za-z0-9_-]{12,}\b")


def _hide_address(match: re.Match[str]) -> str:
    address = match.group(0)
    kept = address.rstrip(".,;:!?)]}'\"")  # the sentence's punctuation stays
    return "(address not shown)" + address[len(kept) :]


def reason_for_practices(reason: str) -> str:
    """A reason support wrote, as practices see it: the words, without web
    addresses or long codes (ASIDs, ids, keys), which are for support."""
    text = _ADDRESS.sub(_hide_address, reason or "")
    text = _CODE.sub("(code not shown)", text)
    return " ".join(text.split())


def _day(value: datetime) -> str:
    from django.utils import timezone

    local = timezone.localtime(value)
    return f"{local.day} {local:%b %Y}"


def practice_has_joined(*, request: OnboardingRequest, practice: Organisation) -> bool:
    """Did this practice raise the onboarding request, or join it since?"""
    return request.practice_id == practice.pk or (
        request.requesters.filter(practice=practice).exists()
    )


def pcn_connection_diagnosis(*, practice: Organisation) -> PcnDiagnosis:
    diagnosis = _pcn_connection_diagnosis(practice=practice)
    if diagnosis.open_request is None:
        return diagnosis
    joined = practice_has_joined(request=diagnosis.open_request, practice=practice)
    return replace(diagnosis, practice_joined=joined)


def _pcn_connection_diagnosis(*, practice: Organisation) -> PcnDiagnosis:
    pcn = practice.pcn
    if pcn is None:
        return PcnDiagnosis(
            "no_pcn",
            "Your practice is not in a Primary Care Network",
            f"{practice.name} is not part of a PCN in hippo-pcn, so there are no PCN slots to "
            "show. If it has joined one, ask the hippo-pcn support team to add it.",
            practice,
            None,
            None,
            None,
        )
    connection = pcn_connection(pcn=pcn)
    request = open_onboarding_request(pcn=pcn)
    status = connection.status if connection else None
    requested_on = f" on {_day(request.created_at)}" if request else ""
    if status == ConnectionStatus.LIVE:
        return PcnDiagnosis(
            "live",
            "Your PCN's EMIS Community is connected",
            f"{pcn.name}'s slots are shown beside your own.",
            practice,
            pcn,
            connection,
            request,
        )
    if status == ConnectionStatus.SUSPENDED:
        return PcnDiagnosis(
            "suspended",
            "PCN slots are not available",
            f"The connection to {pcn.name}'s EMIS Community has been suspended by the hippo-pcn "
            "support team, so no PCN slots can be shown or booked until it is resumed.",
            practice,
            pcn,
            connection,
            request,
        )
    if status == ConnectionStatus.FAILED:
        return PcnDiagnosis(
            "failed",
            "PCN slots are not available",
            f"The connection to {pcn.name}'s EMIS Community failed its checks. The hippo-pcn "
            "support team has been told and is working on it.",
            practice,
            pcn,
            connection,
            request,
        )
    if status == ConnectionStatus.TESTING:
        return PcnDiagnosis(
            "testing",
            "PCN slots are not available yet",
            f"{pcn.name}'s EMIS Community is connected and being tested by the hippo-pcn support "
            "team. PCN slots will appear here as soon as it goes live.",
            practice,
            pcn,
            connection,
            request,
        )
    if status == ConnectionStatus.IN_PROGRESS or (
        request is not None and request.status == "in_progress"
    ):
        return PcnDiagnosis(
            "in_progress",
            "PCN slots are not available yet",
            f"Onboarding of {pcn.name}'s EMIS Community was requested{requested_on} and is in "
            "progress with the hippo-pcn support team.",
            practice,
            pcn,
            connection,
            request,
        )
    if request is not None or status == ConnectionStatus.REQUESTED:
        return PcnDiagnosis(
            "requested",
            "PCN slots are not available yet",
            f"Onboarding of {pcn.name}'s EMIS Community was requested{requested_on}. The "
            "hippo-pcn support team will pick it up and contact the requester.",
            practice,
            pcn,
            connection,
            request,
        )
    return PcnDiagnosis(
        "not_connected",
        "No PCN slots",
        f"Your PCN's EMIS Community is not connected to hippo-pcn yet, so {pcn.name}'s shared "
        "slots cannot be shown. Ask for it to be onboarded and the support team will set it up.",
        practice,
        pcn,
        connection,
        request,
    )


# --- clients ------------------------------------------------------------------------


def emis_tls() -> TlsConfig:
    """TLS for every EMIS client, from the settings (one place)."""
    return TlsConfig(
        ca_bundle=settings.EMIS_CA_BUNDLE,
        client_cert=settings.EMIS_CLIENT_CERT,
        client_key=settings.EMIS_CLIENT_KEY,
        key_password=settings.EMIS_CLIENT_KEY_PASSWORD,
    )


def _transport() -> httpx.BaseTransport | None:
    factory_path = settings.EMIS_HTTP_TRANSPORT_FACTORY
    if not factory_path:
        return None
    return import_string(factory_path)()


def endpoint_for(*, connection: EmisConnection) -> EmisEndpoint:
    credentials = decrypt_credentials(connection.credentials_encrypted)
    return EmisEndpoint(
        base_url=connection.base_url,
        provider_ods=connection.provider_ods_code or connection.organisation.ods_code,
        asid_from=connection.asid_from or settings.EMIS_CONSUMER_ASID,
        asid_to=connection.asid_to,
        client_secret=str(credentials.get("client_secret", "")),
        sign_jwt=connection.sign_jwt,
        connect_timeout=settings.EMIS_CONNECT_TIMEOUT,
        read_timeout=settings.EMIS_READ_TIMEOUT,
        tls=emis_tls(),
    )


def organisation_type(*, organisation: Organisation) -> str:
    """The GPConnect-OrganisationType-1 code a requesting organisation is known by
    (the slot search's organisation-type filter)."""
    return gpc.ORG_TYPE_PCN if organisation.is_pcn else gpc.ORG_TYPE_GP_PRACTICE


def requester_for_user(*, user: UserLike, organisation: Organisation) -> Requester:
    return Requester(
        organisation_ods=organisation.ods_code,
        organisation_name=organisation.name,
        organisation_type=organisation_type(organisation=organisation),
        practitioner_id=f"user-{user.pk}",
        family_name=getattr(user, "last_name", "") or user.get_username(),
        given_name=getattr(user, "first_name", ""),
    )


def emis_client(
    *,
    connection: EmisConnection,
    requesting_organisation: Organisation | None = None,
    user: UserLike | None = None,
    purpose: str = "hippo-pcn",
) -> GPConnectClient:
    """A client for one connection, on behalf of `user` at `requesting_organisation`
    (default: the connection's own organisation, as the system)."""
    organisation = requesting_organisation or connection.organisation
    if user is not None and getattr(user, "is_authenticated", False):
        requester = requester_for_user(user=user, organisation=organisation)
    else:
        requester = system_requester(
            organisation_ods=organisation.ods_code,
            organisation_name=organisation.name,
            organisation_type=organisation_type(organisation=organisation),
            name=purpose,
        )
    return GPConnectClient(
        endpoint_for(connection=connection),
        requester=requester,
        consumer_url=settings.EMIS_CONSUMER_URL,
        transport=_transport(),
        max_retries=settings.EMIS_MAX_RETRIES,
        retry_backoff=settings.EMIS_RETRY_BACKOFF,
    )


def partner_endpoint_for(*, connection: EmisConnection) -> PartnerEndpoint:
    credentials = decrypt_credentials(connection.credentials_encrypted)
    return PartnerEndpoint(
        base_url=connection.partner_base_url,
        application_id=str(credentials.get("partner_application_id", "")),
        token=str(credentials.get("partner_token", "")),
        connect_timeout=settings.EMIS_CONNECT_TIMEOUT,
        read_timeout=settings.EMIS_READ_TIMEOUT,
        tls=emis_tls(),
    )


def partner_client(*, connection: EmisConnection) -> PartnerApiClient:
    """The one place that builds a Partner API client for a connection (a PCN's
    EMIS Community: it finds the appointments made there)."""
    if not connection.partner_base_url:
        raise EmisRejected(
            f"{connection} has no EMIS Partner API base URL: hippo-pcn cannot find the "
            "appointments made in it until support sets one."
        )
    return PartnerApiClient(
        partner_endpoint_for(connection=connection),
        transport=_transport(),
        max_retries=settings.EMIS_MAX_RETRIES,
        retry_backoff=settings.EMIS_RETRY_BACKOFF,
    )


SECRET_LABELS = {
    "client_secret": "client secret",
    "partner_application_id": "Partner API application id",
    "partner_token": "Partner API token",
}


def connection_secrets_stored(*, connection: EmisConnection) -> dict[str, bool] | None:
    """Which secrets a connection holds (never their values), by name; None when
    they cannot be decrypted with the configured FERNET_KEYS."""
    try:
        credentials = decrypt_credentials(connection.credentials_encrypted)
    except CredentialsUnreadable:
        return None
    return {name: bool(credentials.get(name)) for name in SECRET_LABELS}


def partner_settings_missing(*, connection: EmisConnection) -> list[str]:
    """What a connection still lacks to reach the Partner API, in words ([] when
    nothing)."""
    missing = [] if connection.partner_base_url else ["Partner API base URL"]
    stored = connection_secrets_stored(connection=connection)
    if stored is None:
        return [*missing, "Partner API credentials that can be decrypted"]
    missing += [
        SECRET_LABELS[name]
        for name in ("partner_application_id", "partner_token")
        if not stored.get(name)
    ]
    return missing
