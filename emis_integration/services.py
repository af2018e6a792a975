"""Writes for EMIS connections and onboarding. Every status change goes through
`connection_change_status`, which checks the transition and audits it."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from hippo_pcn.audit.services import Actor, audit_record, system_actor
from hippo_pcn.organisations.models import Membership, Organisation
from hippo_pcn.organisations.roles import OrganisationKind
from hippo_pcn.organisations.selectors import user_is_support
from hippo_pcn.outbox.services import outbox_enqueue

from .client import EmisAuthError, EmisError, EmisRejected, EmisUnavailable, PatientNotFound
from .crypto import CredentialsUnreadable, decrypt_credentials, encrypt_credentials, rotate_token
from .models import (
    OPEN_ONBOARDING_STATUSES,
    SYSTEM_FOR_KIND,
    ConnectionStatus,
    EmisConnection,
    OnboardingRequest,
    OnboardingRequester,
    OnboardingStatus,
)
from .selectors import (
    emis_client,
    open_onboarding_request,
    partner_client,
    partner_settings_missing,
)

logger = logging.getLogger(__name__)

S = ConnectionStatus
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    S.REQUESTED: frozenset({S.IN_PROGRESS, S.FAILED}),
    S.IN_PROGRESS: frozenset({S.TESTING, S.FAILED}),
    S.TESTING: frozenset({S.LIVE, S.IN_PROGRESS, S.FAILED}),
    S.LIVE: frozenset({S.SUSPENDED, S.FAILED}),
    S.SUSPENDED: frozenset({S.LIVE, S.IN_PROGRESS, S.FAILED}),
    S.FAILED: frozenset({S.IN_PROGRESS, S.TESTING}),
}
# Changes that need a reason in words (recorded in the audit log).
REASON_REQUIRED = frozenset({S.SUSPENDED, S.FAILED})
CONFIG_FIELDS = ("base_url", "provider_ods_code", "asid_from", "asid_to", "partner_base_url")
# Stored encrypted together (one Fernet token of JSON); each is replaced on its own.
SECRET_FIELDS = ("client_secret", "partner_application_id", "partner_token")
# What the audit log calls a replaced secret ("credentials" is the GP Connect client secret).
SECRET_AUDIT_NAMES = {
    "client_secret": "credentials",
    "partner_application_id": "partner_application_id",
    "partner_token": "partner_token",
}


class TransitionRefused(ValidationError):
    """An illegal status change, with a message for staff."""


# --- connections ----------------------------------------------------------------------


def _secrets_given(**values: str | None) -> dict[str, str]:
    """The secrets actually entered (blank means "keep what is stored")."""
    return {name: value.strip() for name, value in values.items() if value and value.strip()}


@transaction.atomic
def connection_create(
    *,
    actor: Actor,
    organisation: Organisation,
    base_url: str = "",
    provider_ods_code: str = "",
    asid_from: str = "",
    asid_to: str = "",
    client_secret: str = "",
    partner_base_url: str = "",
    partner_application_id: str = "",
    partner_token: str = "",
    sign_jwt: bool = False,
    status: str = ConnectionStatus.REQUESTED,
    reason: str = "",
) -> EmisConnection:
    now = timezone.now()
    connection = EmisConnection(
        organisation=organisation,
        system=SYSTEM_FOR_KIND[OrganisationKind(organisation.kind)],
        base_url=base_url.strip(),
        provider_ods_code=(provider_ods_code or organisation.ods_code).strip().upper(),
        asid_from=asid_from.strip(),
        asid_to=asid_to.strip(),
        partner_base_url=partner_base_url.strip(),
        sign_jwt=sign_jwt,
        status=status,
        status_changed_at=now,
        status_reason=reason,
        config_changed_at=now,
    )
    secrets = _secrets_given(
        client_secret=client_secret,
        partner_application_id=partner_application_id,
        partner_token=partner_token,
    )
    if secrets:
        connection.credentials_encrypted = encrypt_credentials(secrets)
    connection.full_clean()
    connection.save()
    audit_record(
        actor=actor,
        action="emis_connection.created",
        target=connection,
        organisation=organisation,
        details={
            "system": connection.system,
            "status": status,
            "base_url": connection.base_url,
            "partner_base_url": connection.partner_base_url,
            "sign_jwt": connection.sign_jwt,
            # Which secrets were stored, never their values.
            "credentials": ", ".join(sorted(secrets)) if secrets else "none",
            "reason": reason,
        },
    )
    return connection


def _merged_credentials(
    connection: EmisConnection, replacements: dict[str, str]
) -> tuple[dict[str, Any], list[str]]:
    """The connection's secrets with `replacements` merged in (never dropping the
    others), and the names of those that really changed."""
    try:
        credentials = decrypt_credentials(connection.credentials_encrypted)
    except CredentialsUnreadable as exc:
        if set(replacements) != set(SECRET_FIELDS):
            raise ValidationError(
                "The stored EMIS credentials cannot be decrypted with the configured "
                "FERNET_KEYS, so one of them cannot be replaced on its own: enter the client "
                "secret, the Partner API application id and the Partner API token together."
            ) from exc
        credentials = {}
    changed = [name for name, value in replacements.items() if credentials.get(name) != value]
    return {**credentials, **replacements}, changed


@transaction.atomic
def connection_update_config(
    *,
    actor: Actor,
    connection: EmisConnection,
    client_secret: str | None = None,
    partner_application_id: str | None = None,
    partner_token: str | None = None,
    sign_jwt: bool | None = None,
    **fields: str,
) -> EmisConnection:
    """Change the endpoint details and/or replace any of the secrets (a blank or
    None secret keeps the stored one) and/or whether the JWT is signed (None keeps
    it). A change means the connection must be tested again before it can go live."""
    unknown = set(fields) - set(CONFIG_FIELDS)
    if unknown:
        raise ValueError(f"Cannot update {', '.join(sorted(unknown))} on a connection.")
    locked = EmisConnection.objects.select_for_update().get(pk=connection.pk)
    changed = []
    for name, value in fields.items():
        value = (value or "").strip()
        if name == "provider_ods_code":
            value = value.upper()
        if getattr(locked, name) != value:
            setattr(locked, name, value)
            changed.append(name)
    if sign_jwt is not None and locked.sign_jwt != sign_jwt:
        locked.sign_jwt = sign_jwt
        changed.append("sign_jwt")
    replacements = _secrets_given(
        client_secret=client_secret,
        partner_application_id=partner_application_id,
        partner_token=partner_token,
    )
    if replacements:
        credentials, replaced = _merged_credentials(locked, replacements)
        if replaced:
            locked.credentials_encrypted = encrypt_credentials(credentials)
            changed += [SECRET_AUDIT_NAMES[name] for name in replaced]
    if not changed:
        return locked
    locked.config_changed_at = timezone.now()
    locked.full_clean()
    locked.save()
    audit_record(
        actor=actor,
        action="emis_connection.config_changed",
        target=locked,
        organisation=locked.organisation,
        # Names of what changed, never the credentials themselves.
        details={
            "changed": changed,
            "base_url": locked.base_url,
            "partner_base_url": locked.partner_base_url,
            "sign_jwt": locked.sign_jwt,
        },
    )
    connection.refresh_from_db()
    return locked


def _words(items: list[str]) -> str:
    """ "a", "a and b", "a, b and c"."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _refuse(connection: EmisConnection, to_status: str, why: str) -> TransitionRefused:
    return TransitionRefused(
        f"Cannot move {connection} from {S(connection.status).label} to {S(to_status).label}: {why}"
    )


@transaction.atomic
def connection_change_status(
    *, actor: Actor, connection: EmisConnection, to_status: str, reason: str = ""
) -> EmisConnection:
    """The only way a connection's status changes."""
    locked = (
        EmisConnection.objects.select_for_update()
        .select_related("organisation")
        .get(pk=connection.pk)
    )
    from_status = locked.status
    reason = reason.strip()
    if to_status not in S.values:
        raise TransitionRefused(f"“{to_status}” is not a connection status.")
    if to_status == from_status:
        raise _refuse(locked, to_status, "it already has that status.")
    if to_status not in ALLOWED_TRANSITIONS[from_status]:
        allowed = ", ".join(S(s).label for s in sorted(ALLOWED_TRANSITIONS[from_status]))
        raise _refuse(
            locked, to_status, f"from {S(from_status).label} it can only go to {allowed}."
        )
    if to_status in REASON_REQUIRED and not reason:
        raise _refuse(locked, to_status, "say why (the reason is kept in the audit log).")
    if to_status == S.LIVE:
        if not locked.base_url or not locked.asid_to:
            raise _refuse(locked, to_status, "its base URL and ASID are not set.")
        if locked.uses_partner_api:
            missing = partner_settings_missing(connection=locked)
            if missing:
                raise _refuse(
                    locked,
                    to_status,
                    "a PCN's EMIS Community needs its EMIS Partner API settings, through "
                    "which hippo-pcn finds the appointments made there; "
                    f"{_words(missing)} {'is' if len(missing) == 1 else 'are'} not set. "
                    "Enter them, test the connection again, then mark it live.",
                )
        tested_after_change = (
            locked.last_test_ok
            and locked.last_test_at is not None
            and (
                locked.config_changed_at is None or locked.last_test_at >= locked.config_changed_at
            )
        )
        # Resuming a suspended connection whose settings have not changed since it
        # was suspended needs no new test: it is the connection that was live.
        unchanged_resume = (
            from_status == S.SUSPENDED
            and locked.status_changed_at is not None
            and (
                locked.config_changed_at is None
                or locked.config_changed_at <= locked.status_changed_at
            )
        )
        if not (tested_after_change or unchanged_resume):
            raise _refuse(
                locked,
                to_status,
                "it has not passed “Test connection” since its settings last changed.",
            )
    locked.status = to_status
    locked.status_changed_at = timezone.now()
    locked.status_changed_by = actor if isinstance(actor, AbstractBaseUser) else None  # type: ignore[assignment]
    locked.status_reason = reason
    locked.save(
        update_fields=[
            "status",
            "status_changed_at",
            "status_changed_by",
            "status_reason",
            "updated_at",
        ]
    )
    audit_record(
        actor=actor,
        action="emis_connection.status_changed",
        target=locked,
        organisation=locked.organisation,
        details={"from": from_status, "to": to_status, "reason": reason},
    )
    if to_status == S.LIVE:
        _close_onboarding_for(actor=actor, connection=locked)
        if locked.uses_partner_api:
            _queue_pcn_slot_refresh(pcn=locked.organisation)
    connection.refresh_from_db()
    return locked


ONBOARDING_LIVE_EMAIL_TASK = "emis_integration.tasks.send_onboarding_live_email"


def _close_onboarding_for(*, actor: Actor, connection: EmisConnection) -> None:
    """Close the PCN's open requests and tell their requesters, through the outbox
    (written in this transaction: a broker outage delays the email, never loses it)."""
    for request in OnboardingRequest.objects.select_for_update().filter(
        pcn=connection.organisation, status__in=OPEN_ONBOARDING_STATUSES
    ):
        request.status = OnboardingStatus.DONE
        request.connection = connection
        request.closed_at = timezone.now()
        request.save(update_fields=["status", "connection", "closed_at", "updated_at"])
        audit_record(
            actor=actor,
            action="onboarding_request.done",
            target=request,
            organisation=request.pcn,
            details={"connection_id": connection.pk},
        )
        outbox_enqueue(
            task=ONBOARDING_LIVE_EMAIL_TASK,
            args=[request.pk],
            dedupe_key=f"onboarding-live-email:{request.pk}",
        )


def _queue_pcn_slot_refresh(*, pcn: Organisation) -> None:
    # booking builds on emis_integration, not the other way round: import late.
    from booking.services import pcn_campaigns_slots_refresh_queue

    pcn_campaigns_slots_refresh_queue(pcn=pcn)


def _live_email_recipients(request: OnboardingRequest) -> list[str]:
    """Every requester's contact email (their account's email when they gave
    none), each address once, in the order they asked."""
    seen: set[str] = set()
    recipients: list[str] = []
    candidates = [request.contact_email]
    for requester in request.requesters.select_related("user").order_by("created_at", "pk"):
        candidates.append(requester.contact_email or getattr(requester.user, "email", ""))
    for address in candidates:
        address = (address or "").strip()
        if address and address.lower() not in seen:
            seen.add(address.lower())
            recipients.append(address)
    return recipients


def onboarding_live_notify(*, request_id: int) -> int:
    """Email the requesters of a closed onboarding request that their PCN is live:
    one email to each address (none sees the others). The "sent" mark is checked
    and set in the transaction that sends, so a task delivered twice sends once.
    Returns the number of emails sent."""
    with transaction.atomic():
        request = (
            OnboardingRequest.objects.select_for_update()
            .select_related("pcn")
            .filter(pk=request_id, status=OnboardingStatus.DONE, live_notified_at__isnull=True)
            .first()
        )
        if request is None:
            return 0
        recipients = _live_email_recipients(request)
        pcn = request.pcn
        link = f"{settings.PUBLIC_BASE_URL.rstrip('/')}{reverse('emis_integration:pcn_connection')}"
        subject = f"{pcn.name}'s slots are now in hippo-pcn"
        body = (
            f"Hello,\n\nYou asked for {pcn.name}'s EMIS Community to be connected to "
            "hippo-pcn. The connection is now live: the PCN's shared appointment slots "
            "appear beside your practice's own slots in your campaigns, and patients "
            f"can book them.\n\nSee your PCN connection: {link}\n\n"
            "The hippo-pcn support team\n"
        )
        messages = [
            EmailMessage(subject=subject, body=body, to=[address]) for address in recipients
        ]
        sent = get_connection().send_messages(messages) if messages else 0
        request.live_notified_at = timezone.now()
        request.save(update_fields=["live_notified_at", "updated_at"])
        audit_record(
            actor=system_actor("onboarding"),
            action="onboarding_request.live_notified",
            target=request,
            organisation=pcn,
            # How many were told, never their addresses.
            details={"emails": len(messages)},
        )
    return sent or 0


@dataclass(frozen=True)
class ConnectionTestResult:
    ok: bool
    message: str
    latency_ms: int
    free_slots: int | None = None
    # Partner API sessions today and tomorrow (PCN connections only).
    sessions: int | None = None


def _plain_reason(exc: Exception) -> str:
    if isinstance(exc, CredentialsUnreadable):
        return str(exc)
    if isinstance(exc, EmisAuthError):
        return f"EMIS refused hippo-pcn's credentials: {exc.message}"
    if isinstance(exc, EmisUnavailable):
        return f"EMIS did not answer usefully: {exc.message}"
    if isinstance(exc, EmisRejected):
        return f"EMIS answered, but not as GP Connect should: {exc.message}"
    if isinstance(exc, EmisError):
        return exc.message
    return f"The test could not run ({type(exc).__name__})."


def _partner_reason(exc: Exception) -> str:
    if isinstance(exc, CredentialsUnreadable):
        return f"The Partner API could not be tried: {exc}"
    if isinstance(exc, EmisAuthError):
        said = f": {exc.diagnostics}" if exc.diagnostics else "."
        return (
            "The Partner API refused hippo-pcn's application id or token "
            f"(HTTP {exc.status_code}){said}"
        )
    if isinstance(exc, EmisUnavailable):
        return f"The Partner API did not answer usefully: {exc.message}"
    if isinstance(exc, EmisRejected | PatientNotFound):
        return f"The Partner API answered, but not as EMIS's Partner API should: {exc.message}"
    if isinstance(exc, EmisError):
        return f"The Partner API failed: {exc.message}"
    return f"The Partner API test could not run ({type(exc).__name__})."


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else f"{text}."


def _test_gp_connect(connection: EmisConnection) -> tuple[bool, str, int | None]:
    """GP Connect: the capability statement, then a one-day slot search."""
    try:
        if not connection.base_url:
            raise EmisRejected("The connection has no base URL yet.")
        with emis_client(connection=connection, purpose="connection-test") as client:
            client.metadata()
            now = timezone.now()
            free_slots = len(client.search_free_slots(now, now + timedelta(days=1)))
    except (EmisError, CredentialsUnreadable) as exc:
        return False, f"GP Connect failed: {_plain_reason(exc)}", None
    return (
        True,
        "GP Connect answered: EMIS gave its capability statement and a slot search "
        f"({free_slots} free slot(s) in the next 24 hours).",
        free_slots,
    )


def _test_partner_api(connection: EmisConnection) -> tuple[bool, str, int | None]:
    """The Partner API: today's and tomorrow's appointment sessions."""
    missing = partner_settings_missing(connection=connection)
    if missing:
        return (
            False,
            f"The Partner API is not set up: {_words(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} missing. A PCN's EMIS Community needs "
            "them for hippo-pcn to find the appointments made there.",
            None,
        )
    try:
        with partner_client(connection=connection) as client:
            today = timezone.localdate()
            sessions = client.appointment_sessions(start=today, end=today + timedelta(days=1))
            skipped = len(client.warnings)
    except (EmisError, CredentialsUnreadable) as exc:
        return False, _partner_reason(exc), None
    message = f"The Partner API answered: {len(sessions)} appointment session(s) today and tomorrow"
    if skipped:
        message += f" ({skipped} more could not be read)"
    return True, message + ".", len(sessions)


def connection_test(*, actor: Actor, connection: EmisConnection) -> ConnectionTestResult:
    """Round-trip to EMIS through both interfaces a connection uses: GP Connect
    (the capability statement, then a one-day slot search) and, for a PCN's EMIS
    Community, the Partner API (today's and tomorrow's sessions). Both are tried
    even when one fails, and the message says what each found or why it failed.
    Stores the result and latency on the connection; never changes its status."""
    started = time.perf_counter()
    ok, message, free_slots = _test_gp_connect(connection)
    parts = [message]
    sessions: int | None = None
    if connection.uses_partner_api:
        partner_ok, partner_message, sessions = _test_partner_api(connection)
        ok = ok and partner_ok
        parts.append(partner_message)
    latency_ms = int((time.perf_counter() - started) * 1000)
    message = " ".join(_sentence(part) for part in [*parts, f"Took {latency_ms} ms"])
    now = timezone.now()
    updates: dict[str, Any] = {
        "last_test_at": now,
        "last_test_ok": ok,
        "last_test_latency_ms": latency_ms,
        "last_test_message": message,
    }
    if ok:
        updates["last_success_at"] = now
    else:
        updates["last_error"] = message
        updates["last_error_at"] = now
    with transaction.atomic():
        EmisConnection.objects.filter(pk=connection.pk).update(**updates)
        audit_record(
            actor=actor,
            action="emis_connection.tested",
            target=connection,
            organisation=connection.organisation,
            details={"ok": ok, "latency_ms": latency_ms, "message": message},
        )
    connection.refresh_from_db()
    if not ok:
        logger.warning("EMIS connection %s failed its test: %s", connection.pk, message)
    return ConnectionTestResult(
        ok=ok, message=message, latency_ms=latency_ms, free_slots=free_slots, sessions=sessions
    )


def connection_record_call(*, connection: EmisConnection, error: EmisError | None = None) -> None:
    """Note the outcome of a real call (booking, polling) on the connection."""
    now = timezone.now()
    if error is None:
        EmisConnection.objects.filter(pk=connection.pk).update(last_success_at=now)
    else:
        EmisConnection.objects.filter(pk=connection.pk).update(
            last_error=str(error)[:2000], last_error_at=now
        )


def credentials_rotate() -> int:
    """Re-encrypt every stored credential with the newest FERNET key."""
    rotated = 0
    with transaction.atomic():
        for connection in EmisConnection.objects.select_for_update().exclude(
            credentials_encrypted=""
        ):
            connection.credentials_encrypted = rotate_token(connection.credentials_encrypted)
            connection.save(update_fields=["credentials_encrypted", "updated_at"])
            rotated += 1
        if rotated:
            audit_record(
                actor=system_actor("key-rotation"),
                action="emis_connection.credentials_rotated",
                details={"connections": rotated},
            )
    return rotated


# --- onboarding ---------------------------------------------------------------------


def _may_request_for(
    user: AbstractBaseUser, practice: Organisation | None, pcn: Organisation
) -> bool:
    if user_is_support(user=user):
        return True
    memberships = Membership.objects.filter(user_id=user.pk)
    if practice is not None and memberships.filter(organisation=practice).exists():
        return True
    return practice is None and memberships.filter(organisation=pcn).exists()


@transaction.atomic
def onboarding_request_raise(
    *,
    user: AbstractBaseUser,
    practice: Organisation | None = None,
    pcn: Organisation | None = None,
    contact_name: str,
    contact_email: str,
    contact_phone: str = "",
    notes: str = "",
) -> tuple[OnboardingRequest, bool]:
    """Ask for a PCN's EMIS Community to be onboarded. Returns (request, created):
    when one is already open, the user is added to it instead."""
    if practice is not None:
        if not practice.is_practice:
            raise ValidationError(f"{practice} is not a GP practice.")
        if practice.pcn is None:
            raise ValidationError(
                f"{practice.name} is not part of a PCN in hippo-pcn, so there is no PCN to onboard."
            )
        pcn = practice.pcn
    if pcn is None or not pcn.is_pcn:
        raise ValidationError("Choose the PCN whose EMIS Community should be onboarded.")
    if not _may_request_for(user, practice, pcn):
        raise PermissionDenied("You can only request onboarding for your own practice's PCN.")
    existing = EmisConnection.objects.filter(organisation=pcn, status=ConnectionStatus.LIVE)
    if existing.exists():
        raise ValidationError(
            f"{pcn.name}'s EMIS Community is already live in hippo-pcn: there is nothing to request."
        )
    contact_name, contact_email = contact_name.strip(), contact_email.strip()
    errors = {}
    if not contact_name:
        errors["contact_name"] = "Enter the name of the person support should contact."
    if not contact_email:
        errors["contact_email"] = "Enter an email address support can reply to."
    if errors:
        raise ValidationError(errors)

    # Serialise requests for one PCN so two practices asking at once share one request.
    Organisation.objects.select_for_update().filter(pk=pcn.pk).first()
    request = open_onboarding_request(pcn=pcn)
    created = request is None
    if request is None:
        request = OnboardingRequest(
            pcn=pcn,
            practice=practice,
            requested_by=user,  # type: ignore[misc]
            contact_name=contact_name,
            contact_email=contact_email,
            contact_phone=contact_phone.strip(),
            notes=notes.strip(),
        )
        request.full_clean()
        request.save()
        audit_record(
            actor=user,
            action="onboarding_request.raised",
            target=request,
            organisation=pcn,
            details={"practice": practice.ods_code if practice else None},
        )
    requester, joined = OnboardingRequester.objects.get_or_create(
        request=request,
        user=user,
        defaults={"practice": practice, "contact_email": contact_email, "notes": notes.strip()},
    )
    if joined and not created:
        audit_record(
            actor=user,
            action="onboarding_request.joined",
            target=request,
            organisation=pcn,
            details={"practice": practice.ods_code if practice else None},
        )
    return request, created


@transaction.atomic
def onboarding_request_start(*, actor: Actor, request: OnboardingRequest) -> EmisConnection:
    """Support picks up a request: the PCN's connection is created (or reused)
    in `in_progress`, and linked to the request."""
    request = OnboardingRequest.objects.select_for_update().select_related("pcn").get(pk=request.pk)
    if not request.is_open:
        raise ValidationError(f"This request is already {request.get_status_display().lower()}.")
    connection = EmisConnection.objects.filter(organisation=request.pcn).first()
    if connection is None:
        connection = connection_create(
            actor=actor,
            organisation=request.pcn,
            status=ConnectionStatus.IN_PROGRESS,
            reason=f"Onboarding request #{request.pk}",
        )
    elif connection.status in (ConnectionStatus.REQUESTED, ConnectionStatus.FAILED):
        connection = connection_change_status(
            actor=actor,
            connection=connection,
            to_status=ConnectionStatus.IN_PROGRESS,
            reason=f"Onboarding request #{request.pk}",
        )
    request.status = OnboardingStatus.IN_PROGRESS
    request.connection = connection
    request.save(update_fields=["status", "connection", "updated_at"])
    audit_record(
        actor=actor,
        action="onboarding_request.started",
        target=request,
        organisation=request.pcn,
        details={"connection_id": connection.pk},
    )
    return connection


@transaction.atomic
def onboarding_request_decline(*, actor: Actor, request: OnboardingRequest, reason: str) -> None:
    request = OnboardingRequest.objects.select_for_update().select_related("pcn").get(pk=request.pk)
    if not request.is_open:
        raise ValidationError(f"This request is already {request.get_status_display().lower()}.")
    if not reason.strip():
        raise ValidationError("Say why the request is declined; the requesters will see it.")
    request.status = OnboardingStatus.DECLINED
    request.status_note = reason.strip()
    request.closed_at = timezone.now()
    request.save(update_fields=["status", "status_note", "closed_at", "updated_at"])
    audit_record(
        actor=actor,
        action="onboarding_request.declined",
        target=request,
        organisation=request.pcn,
        details={"reason": reason.strip()},
    )
