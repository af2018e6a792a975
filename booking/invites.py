"""Invitations: services and selectors.

A campaign invites its patients by text or email with a link to book
(booking/tokens.py). Invitations go out in waves matched to the campaign's free
slots (invites per free slot), at most a daily cap per Europe/London day and only
inside the campaign's sending hours; they stop when the slots run out and resume
when slots appear. Patients who have not booked get reminders; after the last one,
they are on the non-responder list for staff to phone.

Patient data never goes into the audit log or the logs (records are named by id),
and neither do links.

Sections:
* Links and message texts.
* Who may be invited.
* Creating invitations (staff, and waves).
* Sending invitations (the Celery task's body): per-invite delivery status.
* Confirmation, change and cancellation messages (self-book and staff changes).
* Waves matched to capacity, and the campaign's sending state.
* Reminders (chasers).
* Sending each message once.
* Non-responders and call outcomes.
* Counts and pages for staff.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from hippo_pcn.audit.models import AuditEntry
from hippo_pcn.audit.services import audit_record, system_actor
from hippo_pcn.organisations.models import Organisation
from hippo_pcn.outbox.services import outbox_enqueue, outbox_enqueue_many

from .models import (
    ACTIVE_BOOKING_STATUSES,
    Booking,
    BookingStatus,
    CallOutcome,
    Campaign,
    CampaignPatient,
    CampaignStatus,
    DeliveryStatus,
    Invite,
    InviteChannel,
    MessageSend,
    MessageSendStatus,
    Patient,
)
from .notify import (
    Backend,
    Message,
    NotifyOutcomeUnknown,
    NotifyPermanentError,
    NotifyTransientError,
    demo_messages_for_practice,
    get_backend,
    message_send,
)
from .selectors import campaign_offerable_slots, campaigns_for_user
from .tokens import new_token_fields, token_for_salt

logger = logging.getLogger(__name__)

LONDON = ZoneInfo("Europe/London")
WAVE_ACTOR = system_actor("invite waves")
REMINDER_ACTOR = system_actor("invite reminders")
ACTIVE_BOOKING = ACTIVE_BOOKING_STATUSES
OPEN_DELIVERY = (DeliveryStatus.QUEUED, DeliveryStatus.SENT)
# Call outcomes that settle an invitation: nobody needs to chase or phone again.
SETTLED_OUTCOMES = (CallOutcome.BOOKED_BY_PHONE, CallOutcome.DECLINED, CallOutcome.WRONG_NUMBER)
# A send task holds an invite this long while it talks to the notifier. A message
# found "sending" for longer than this, and unknown to the notifier, was never sent.
SEND_LEASE_SECONDS = 120
# A queued reminder not settled after this long (its task lost) may be queued again.
REMINDER_CLAIM_STALE_AFTER = timedelta(days=1)
# The Celery tasks behind the outbox (booking/tasks.py).
SEND_INVITES_TASK = "booking.tasks.send_invites"
SEND_REMINDER_TASK = "booking.tasks.send_reminder"
SEND_BOOKING_MESSAGE_TASK = "booking.tasks.send_booking_message"
# Queued invitations no task has tried after this long are queued again by the wave.
STALE_QUEUED_AFTER = timedelta(minutes=10)
INSERT_BATCH_SIZE = 1_000


def _now(now: datetime | None) -> datetime:
    return now if now is not None else timezone.now()


def _batch_size() -> int:
    return max(int(settings.INVITE_SEND_BATCH_SIZE), 1)


# --- Links and message texts ------------------------------------------------------------------


def invite_link(invite: Invite) -> str:
    """The patient's link: PUBLIC_BASE_URL/book/<token>/. The token is re-derived
    from the stored salt; it is never stored or logged."""
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    return f"{base}/book/{token_for_salt(invite.token_salt)}/"


def _day(moment: datetime) -> str:
    local = timezone.localtime(moment, LONDON)
    return f"{local:%A} {local.day} {local:%B}"


def _until(moment: datetime) -> str:
    """When a link stops working: "the end of Tuesday 2 December" at midnight,
    else "15:30 on Tuesday 2 December"."""
    local = timezone.localtime(moment, LONDON)
    if local.time() == time.min:
        return f"the end of {_day(local - timedelta(days=1))}"
    return f"{local:%H:%M} on {_day(local)}"


def _when(moment: datetime) -> str:
    local = timezone.localtime(moment, LONDON)
    return f"{_day(local)} at {local:%H:%M}"


def _where(booking: Booking) -> tuple[str, str]:
    name = booking.site_name or booking.campaign.practice.name
    return name, booking.site_address


def _message(
    *,
    invite: Invite,
    kind: str,
    channel: str,
    booking: Booking | None = None,
    reference: str = "",
) -> Message:
    """The text of one message, in plain English. The personalisation fields are
    what GOV.UK Notify's templates use (see booking/notify.py)."""
    campaign = invite.campaign
    practice = campaign.practice.name
    what = campaign.appointment_type
    link = invite_link(invite)
    fields = {"practice_name": practice, "appointment_type": what, "link": link}
    if kind == "invite":
        fields["expires"] = _until(invite.expires_at)
        subject = f"Book your {what} with {practice}"
        pcn_note = (
            " or a nearby PCN site" if campaign.use_pcn_slots and campaign.practice.pcn_id else ""
        )
        body = (
            f"{practice}: you are invited to book your {what}. Choose a time at your "
            f"practice{pcn_note} here: {link}\n"
            f"The link works until {fields['expires']}. If you do not want an appointment, "
            "you can tell us on the same page."
        )
    elif kind == "reminder":
        fields["expires"] = _until(invite.expires_at)
        subject = f"Reminder: book your {what} with {practice}"
        body = (
            f"{practice}: a reminder that you can still book your {what}. Choose a time "
            f"here: {link}\n"
            f"The link works until {fields['expires']}. If you do not want an appointment, "
            "you can tell us on the same page."
        )
    else:
        if booking is None:
            raise ValueError(f"A {kind} message needs the booking.")
        site_name, site_address = _where(booking)
        place = f"{site_name}, {site_address}" if site_address else site_name
        fields.update(when=_when(booking.start), site_name=site_name, site_address=site_address)
        if kind == "confirmation":
            subject = f"Your {what} is booked"
            body = (
                f"{practice}: your {what} is booked for {fields['when']} at {place}.\n"
                f"To cancel or change it, use your link: {link}"
            )
        elif kind == "change":
            subject = f"Your {what} has moved to a new time"
            body = (
                f"{practice}: your {what} has moved. It is now on {fields['when']} at "
                f"{place}. Your earlier time is cancelled.\n"
                f"To cancel or change it, use your link: {link}"
            )
        else:
            subject = f"Your {what} has been cancelled"
            body = (
                f"{practice}: your {what} on {fields['when']} at {place} has been "
                "cancelled. If you still need an appointment, contact your practice."
            )
    return Message(
        kind=kind,
        channel=channel,
        to=_address(invite.patient, channel),
        subject=subject,
        body=body,
        personalisation=fields,
        practice_id=campaign.practice_id,
        invite_id=invite.pk,
        reference=reference or f"invite-{invite.pk}-{kind}",
    )


def _address(patient: Patient, channel: str) -> str:
    return patient.mobile if channel == InviteChannel.SMS else patient.email


def _channel_for(patient: Patient | Mapping[str, Any], preferred: str) -> str | None:
    """The campaign's channel, or the other one when the patient lacks it."""
    if isinstance(patient, Patient):
        mobile, email = patient.mobile, patient.email
    else:
        mobile, email = patient["mobile"], patient["email"]
    available = {InviteChannel.SMS: bool(mobile), InviteChannel.EMAIL: bool(email)}
    if available.get(InviteChannel(preferred)):
        return preferred
    for channel, ok in available.items():
        if ok:
            return channel.value
    return None


def _channel_now(invite: Invite) -> str:
    """For later messages: the invite's channel, or the other one if the patient's
    details changed since."""
    return _channel_for(invite.patient, invite.channel) or invite.channel


# --- Who may be invited ------------------------------------------------------------------------


def campaign_full_window(campaign: Campaign) -> tuple[datetime, datetime]:
    """[first day 00:00, day after the last day 00:00) in Europe/London."""
    start = datetime.combine(campaign.start_date, time.min, tzinfo=LONDON)
    end = datetime.combine(campaign.end_date + timedelta(days=1), time.min, tzinfo=LONDON)
    return start, end


def invite_expiry(*, campaign: Campaign, now: datetime | None = None) -> datetime:
    """now + the campaign's link validity, never after the end of its last day."""
    _, end = campaign_full_window(campaign)
    return min(_now(now) + timedelta(days=campaign.invite_expiry_days), end)


def _booked(campaign: Campaign, patient_ref: str = "pk") -> QuerySet[Booking]:
    """Active bookings (of the patient OuterRef(patient_ref)) that count as
    "already booked" for this campaign: in it, or in its dates at the practice."""
    start, end = campaign_full_window(campaign)
    return Booking.objects.filter(
        patient_id=OuterRef(patient_ref), status__in=ACTIVE_BOOKING
    ).filter(
        Q(campaign=campaign) | Q(practice_id=campaign.practice_id, start__gte=start, start__lt=end)
    )


def eligible_patients(*, campaign: Campaign) -> QuerySet[Patient]:
    """The campaign's patients who may be invited now, longest on the list first:
    not invited in this campaign yet, not booked in its dates, not opted out of
    messages, with a mobile number or email address."""
    return (
        Patient.objects.filter(
            practice_id=campaign.practice_id,
            opted_out_of_messages=False,
        )
        .annotate(
            on_campaign=Exists(
                CampaignPatient.objects.filter(campaign=campaign, patient_id=OuterRef("pk"))
            ),
            invited=Exists(Invite.objects.filter(campaign=campaign, patient_id=OuterRef("pk"))),
            booked=Exists(_booked(campaign)),
        )
        .filter(on_campaign=True, invited=False, booked=False)
        .exclude(mobile="", email="")
        .order_by("pk")
    )


SKIP_REASONS = {
    "not_on_campaign": "not on the campaign's list",
    "booked": "already booked",
    "declined": "declined",
    "already_invited": "already invited",
    "opted_out": "opted out of messages",
    "no_contact": "no mobile number or email address",
}


def _classify_for_invite(
    *, campaign: Campaign, patient_ids: list[int]
) -> tuple[list[dict[str, Any]], Counter[str]]:
    """Split patients into those to invite and the skipped, counted by reason."""
    rows = (
        Patient.objects.filter(pk__in=patient_ids)
        .annotate(
            on_campaign=Exists(
                CampaignPatient.objects.filter(campaign=campaign, patient_id=OuterRef("pk"))
            ),
            invited=Exists(Invite.objects.filter(campaign=campaign, patient_id=OuterRef("pk"))),
            declined=Exists(
                Invite.objects.filter(
                    campaign=campaign, patient_id=OuterRef("pk"), declined_at__isnull=False
                )
            ),
            booked=Exists(_booked(campaign)),
        )
        .values(
            "pk",
            "practice_id",
            "mobile",
            "email",
            "opted_out_of_messages",
            "on_campaign",
            "invited",
            "declined",
            "booked",
        )
        .order_by("pk")
    )
    to_invite: list[dict[str, Any]] = []
    skipped: Counter[str] = Counter()
    for row in rows:
        if row["practice_id"] != campaign.practice_id or not row["on_campaign"]:
            skipped["not_on_campaign"] += 1
        elif row["booked"]:
            skipped["booked"] += 1
        elif row["declined"]:
            skipped["declined"] += 1
        elif row["invited"]:
            skipped["already_invited"] += 1
        elif row["opted_out_of_messages"]:
            skipped["opted_out"] += 1
        elif not (row["mobile"] or row["email"]):
            skipped["no_contact"] += 1
        else:
            to_invite.append(row)
    return to_invite, skipped


# --- Creating invitations ----------------------------------------------------------------------


@dataclass(frozen=True)
class InviteCreateResult:
    created: int
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    def skipped_text(self) -> str:
        return ", ".join(f"{n} {SKIP_REASONS[k]}" for k, n in sorted(self.skipped.items()) if n)


def _queue_send(invite_ids: list[int]) -> None:
    """Queue the send task in batches through the outbox: written in this
    transaction, published once it commits (or by the relay, if the broker is down)."""
    if not invite_ids:
        return
    size = _batch_size()
    batches = [invite_ids[i : i + size] for i in range(0, len(invite_ids), size)]
    outbox_enqueue_many(task=SEND_INVITES_TASK, args_list=[[batch] for batch in batches])


def _insert_invites(
    *, campaign: Campaign, rows: Iterable[Mapping[str, Any]], now: datetime
) -> list[int]:
    expires_at = invite_expiry(campaign=campaign, now=now)
    invites = []
    for row in rows:
        channel = _channel_for(row, campaign.invite_channel)
        if channel is None:
            continue
        invites.append(
            Invite(
                campaign=campaign,
                patient_id=row["pk"],
                channel=channel,
                delivery_status=DeliveryStatus.QUEUED,
                expires_at=expires_at,
                **new_token_fields(),
            )
        )
    created = Invite.objects.bulk_create(invites, batch_size=INSERT_BATCH_SIZE)
    ids = [invite.pk for invite in created]
    _queue_send(ids)
    return ids


def _lock_campaign(campaign: Campaign) -> None:
    """Serialise invitation writes per campaign (waves, staff, reminders)."""
    Campaign.objects.select_for_update().filter(pk=campaign.pk).values_list("pk").first()


def _ensure_may_invite(*, campaign: Campaign, user: Any) -> None:
    if not campaigns_for_user(user=user).filter(pk=campaign.pk).exists():
        raise ValidationError("You cannot invite patients to this campaign.")


@transaction.atomic
def invites_create(
    *, campaign: Campaign, patients: Iterable[Patient] | QuerySet[Patient], user: Any
) -> InviteCreateResult:
    """Invite the given patients of the campaign (selected ones, or all). Skips
    those already invited, booked in the campaign's dates, who declined, opted out
    or have no mobile number or email; returns how many were invited and skipped
    by reason. Sending is queued once the invitations are committed, and happens
    inside the campaign's sending hours. This does not apply the wave's capacity
    rules: staff chose these patients."""
    _ensure_may_invite(campaign=campaign, user=user)
    if not campaign.is_active:
        raise ValidationError("Only an active campaign can send invitations.")
    if isinstance(patients, QuerySet):
        patient_ids = list(patients.values_list("pk", flat=True))
    else:
        patient_ids = [p.pk for p in patients]
    _lock_campaign(campaign)
    rows, skipped = _classify_for_invite(campaign=campaign, patient_ids=patient_ids)
    created = _insert_invites(campaign=campaign, rows=rows, now=timezone.now())
    audit_record(
        actor=user,
        action="invites.created",
        target=campaign,
        organisation=campaign.practice,
        details={"created": len(created), "skipped": dict(skipped), "via": "staff"},
    )
    return InviteCreateResult(len(created), dict(skipped))


# --- Sending invitations ----------------------------------------------------------------------


def in_sending_hours(*, campaign: Campaign, now: datetime | None = None) -> bool:
    """Inside [sending_from, sending_until) in Europe/London (wrapping midnight
    when from is after until)."""
    local = timezone.localtime(_now(now), LONDON).time()
    start, end = campaign.sending_from, campaign.sending_until
    if start <= end:
        return start <= local < end
    return local >= start or local < end


@dataclass
class SendResult:
    sent: int = 0
    failed: int = 0
    retry: int = 0
    held: int = 0
    retry_reasons: list[str] = field(default_factory=list)


def _booked_patients(invites: list[Invite]) -> set[tuple[int, int]]:
    """(campaign id, patient id) of these invitations' patients who are already
    booked for their campaign (one query per campaign)."""
    by_campaign: dict[int, list[Invite]] = {}
    for invite in invites:
        by_campaign.setdefault(invite.campaign_id, []).append(invite)
    found: set[tuple[int, int]] = set()
    for campaign_id, group in by_campaign.items():
        campaign = group[0].campaign
        start, end = campaign_full_window(campaign)
        patient_ids = (
            Booking.objects.filter(
                patient_id__in=[i.patient_id for i in group], status__in=ACTIVE_BOOKING
            )
            .filter(
                Q(campaign=campaign)
                | Q(practice_id=campaign.practice_id, start__gte=start, start__lt=end)
            )
            .values_list("patient_id", flat=True)
        )
        found |= {(campaign_id, patient_id) for patient_id in patient_ids}
    return found


def _not_sendable_reason(invite: Invite, booked: set[tuple[int, int]]) -> str:
    if not invite.campaign.is_active:
        return "Not sent: the campaign is no longer active."
    if invite.patient.opted_out_of_messages:
        return "Not sent: the patient opted out of messages."
    if invite.declined_at is not None or invite.used_at is not None:
        return "Not sent: the patient has already responded."
    if (invite.campaign_id, invite.patient_id) in booked:
        return "Not sent: the patient is already booked."
    return ""


def _mark(invite_id: int, **fields: Any) -> None:
    Invite.objects.filter(pk=invite_id).update(**fields)


def invites_send_batch(*, invite_ids: list[int], final_attempt: bool = True) -> SendResult:
    """Send the still-queued invitations among `invite_ids` (the send task's
    body). Each one ends sent, failed with a reason, or (transient failure, not the
    final attempt) still queued for the task's retry. Idempotent: a sent invitation
    is never sent again, and one another worker holds (a lease in the cache) is
    left alone. Each invitation's status is committed as soon as it is known.
    Outside the campaign's sending hours invitations stay queued for the next wave."""
    result = SendResult()
    now = timezone.now()
    invites = list(
        Invite.objects.filter(pk__in=invite_ids, delivery_status=DeliveryStatus.QUEUED)
        .select_related("campaign", "campaign__practice", "patient")
        .order_by("pk")
    )
    booked = _booked_patients(invites)
    leased: list[Invite] = []
    for invite in invites:
        if not in_sending_hours(campaign=invite.campaign, now=now):
            result.held += 1
            continue
        reason = _not_sendable_reason(invite, booked)
        if reason:
            Invite.objects.filter(pk=invite.pk, delivery_status=DeliveryStatus.QUEUED).update(
                delivery_status=DeliveryStatus.FAILED, delivery_error=reason
            )
            result.failed += 1
        elif cache.add(_lease(invite.pk), 1, timeout=SEND_LEASE_SECONDS):
            leased.append(invite)
    try:
        # Under the leases, re-read: another worker may have sent some meanwhile.
        still_queued = set(
            Invite.objects.filter(
                pk__in=[i.pk for i in leased], delivery_status=DeliveryStatus.QUEUED
            ).values_list("pk", flat=True)
        )
        Invite.objects.filter(pk__in=still_queued).update(
            delivery_attempts=F("delivery_attempts") + 1
        )
        backend = get_backend() if still_queued else None  # one client for the batch
        for invite in leased:
            if invite.pk in still_queued:
                _send_one(
                    invite,
                    backend=backend,
                    tries=invite.delivery_attempts + 1,
                    final_attempt=final_attempt,
                    result=result,
                )
    finally:
        cache.delete_many([_lease(i.pk) for i in leased])
    return result


def _lease(invite_id: int) -> str:
    return f"invite-send:{invite_id}"


def _send_one(
    invite: Invite,
    *,
    backend: Backend | None,
    tries: int,
    final_attempt: bool,
    result: SendResult,
) -> None:
    def sent(provider_id: str) -> None:
        _mark(
            invite.pk,
            delivery_status=DeliveryStatus.SENT,
            sent_at=timezone.now(),
            delivery_error="",
        )

    try:
        _send_once(
            key=f"invite:{invite.pk}",
            kind="invite",
            invite=invite,
            build=lambda reference: _message(
                invite=invite, kind="invite", channel=invite.channel, reference=reference
            ),
            backend=backend,
            on_sent=sent,
        )
    except NotifyPermanentError as exc:
        _mark(invite.pk, delivery_status=DeliveryStatus.FAILED, delivery_error=exc.reason)
        logger.warning("Invite %s not sent: %s", invite.pk, exc.reason)
        result.failed += 1
    except NotifyOutcomeUnknown as exc:
        if final_attempt:
            # Not known whether it went: it stays queued, and the wave's stale sweep
            # asks the notifier again (invites_requeue_stale). Never "failed" on a guess.
            _mark(invite.pk, delivery_error=f"Not known yet whether it went: {exc.reason}"[:300])
            logger.warning("Invite %s: not known whether sent: %s", invite.pk, exc.reason)
            result.held += 1
        else:
            _mark(invite.pk, delivery_error=f"Checking whether it went: {exc.reason}"[:300])
            result.retry += 1
            result.retry_reasons.append(exc.reason)
    except NotifyTransientError as exc:
        if final_attempt:
            _mark(
                invite.pk,
                delivery_status=DeliveryStatus.FAILED,
                delivery_error=f"Gave up after {tries} tries: {exc.reason}"[:300],
            )
            logger.warning("Invite %s not sent after %s tries: %s", invite.pk, tries, exc.reason)
            result.failed += 1
        else:
            _mark(invite.pk, delivery_error=f"Will try again: {exc.reason}"[:300])
            result.retry += 1
            result.retry_reasons.append(exc.reason)
    else:
        result.sent += 1


def invites_requeue_stale(*, campaign: Campaign, now: datetime | None = None) -> int:
    """Queue again invitations no task ever tried (a lost task, or held outside
    sending hours), and those whose send was left "sending" (a worker died, or
    whether it went is not known) for longer than the send lease: their task asks
    the notifier before sending. Inside sending hours only. Those being retried
    belong to their task."""
    if not in_sending_hours(campaign=campaign, now=now):
        return 0
    now = _now(now)
    left_sending = MessageSend.objects.filter(
        invite_id=OuterRef("pk"),
        kind="invite",
        status=MessageSendStatus.SENDING,
        sending_since__lt=now - timedelta(seconds=SEND_LEASE_SECONDS),
    )
    ids = list(
        Invite.objects.filter(campaign=campaign, delivery_status=DeliveryStatus.QUEUED)
        .filter(
            Q(delivery_attempts=0, created_at__lt=now - STALE_QUEUED_AFTER)
            | Q(Exists(left_sending))
        )
        .values_list("pk", flat=True)
    )
    _queue_send(ids)
    return len(ids)


# --- Confirmation and cancellation messages -------------------------------------------------------


def _queue_booking_message(kind: str, invite: Invite, booking: Booking) -> None:
    """Through the outbox: the message is written with the booking's change and
    goes once the broker takes it, even if it is down now."""
    outbox_enqueue(task=SEND_BOOKING_MESSAGE_TASK, args=[invite.pk, booking.pk, kind])


def invite_send_confirmation(*, invite: Invite, booking: Booking) -> None:
    """Queue the "your appointment is booked" message (what, when, where, how to
    cancel: the same link). For the public self-book pages, after a booking or a
    rebooking."""
    _queue_booking_message("confirmation", invite, booking)


def invite_send_cancellation(*, invite: Invite, booking: Booking) -> None:
    """Queue the "your appointment has been cancelled" message. For the public
    self-book pages, after a cancellation."""
    _queue_booking_message("cancellation", invite, booking)


# What staff changed, by message kind: booked ("confirmation"), moved to another time
# ("change", the new booking), cancelled ("cancellation").
STAFF_CHANGE_KINDS = ("confirmation", "change", "cancellation")


def _staff_message_channel(booking: Booking) -> str | None:
    """The channel a staff change's message goes by: the patient's invitation's
    (or the campaign's), the other one when they lack it; None when they have
    neither a mobile number nor an email address."""
    preferred = (
        Invite.objects.filter(campaign_id=booking.campaign_id, patient_id=booking.patient_id)
        .values_list("channel", flat=True)
        .first()
    )
    return _channel_for(booking.patient, preferred or booking.campaign.invite_channel)


def _invite_for_booking(*, booking: Booking, channel: str, kind: str) -> Invite:
    """The patient's invitation in the booking's campaign, whose link the message
    carries; made now when staff booked a patient who was never invited (the same
    token fields as every invitation; no invitation is sent: its link goes out in
    this message). For a booking or a move it is pointed at the new booking, so
    the link shows it and can change or cancel it."""
    now = timezone.now()
    campaign = booking.campaign
    invite, _ = Invite.objects.get_or_create(
        campaign=campaign,
        patient_id=booking.patient_id,
        defaults={
            "channel": channel,
            "delivery_status": DeliveryStatus.SENT,
            "expires_at": invite_expiry(campaign=campaign, now=now),
            "used_at": now,
            "booking": booking,
            **new_token_fields(),
        },
    )
    if kind != "cancellation" and invite.booking_id != booking.pk:
        Invite.objects.filter(pk=invite.pk).update(booking=booking, used_at=invite.used_at or now)
    return invite


def booking_message_patient(*, booking: Booking, kind: str) -> bool:
    """Staff booked, moved (`kind` "change", for the new booking) or cancelled:
    queue the patient's message through the outbox, in the caller's transaction,
    with the date, time, site, address and their link to change or cancel. Not
    when the campaign sends none (`message_patients_on_staff_changes`) or the
    patient has neither a mobile number nor an email address. Sent once per
    booking and kind (the send record's key): a move makes a new booking, so each
    move is its own message. Returns whether one was queued."""
    if kind not in STAFF_CHANGE_KINDS:
        raise ValueError(f"Unknown booking message: {kind}.")
    if not booking.campaign.message_patients_on_staff_changes:
        return False
    channel = _staff_message_channel(booking)
    if channel is None:
        return False
    invite = _invite_for_booking(booking=booking, channel=channel, kind=kind)
    _queue_booking_message(kind, invite, booking)
    return True


def booking_staff_message_note(*, booking: Booking) -> str:
    """What the staff page says after a booking, move or cancellation: what the
    patient will be sent (never that it was sent), or why nothing is."""
    if booking.replaced_by_id is not None:
        return "The patient is sent no message about it: they were told of the move."
    if not booking.campaign.message_patients_on_staff_changes:
        return "This campaign sends patients no message when staff book, move or cancel."
    channel = _staff_message_channel(booking)
    if channel is None:
        return "The patient has no mobile number or email address, so no message is sent."
    what = "a text message" if channel == InviteChannel.SMS else "an email"
    return f"We will send the patient {what} with the details."


# A booking message whose fate is still not known after the task's last try is
# checked again this many times, a send lease apart, through the outbox.
BOOKING_MESSAGE_MAX_CHECKS = 3


def booking_message_send(
    *, invite_id: int, booking_id: int, kind: str, final_attempt: bool = True, check: int = 0
) -> bool:
    """Send a confirmation, change of time or cancellation (the task's body). Transient failures
    propagate for the task to retry, until the final attempt; failures are logged
    by id. When whether it went is still not known then, the task is queued again
    (through the outbox) for after the send lease, to ask the notifier or send it;
    at most BOOKING_MESSAGE_MAX_CHECKS times. A patient who opted out still gets
    these: they are about an appointment they made."""
    invite = (
        Invite.objects.select_related("campaign", "campaign__practice", "patient")
        .filter(pk=invite_id)
        .first()
    )
    booking = Booking.objects.select_related("campaign__practice").filter(pk=booking_id).first()
    if invite is None or booking is None or booking.patient_id != invite.patient_id:
        return False
    channel = _channel_now(invite)
    try:
        _send_once(
            key=f"{kind}:{booking.pk}",
            kind=kind,
            invite=invite,
            booking=booking,
            build=lambda reference: _message(
                invite=invite, kind=kind, channel=channel, booking=booking, reference=reference
            ),
        )
    except NotifyTransientError as exc:
        if not final_attempt:
            raise
        if isinstance(exc, NotifyOutcomeUnknown) and check < BOOKING_MESSAGE_MAX_CHECKS:
            outbox_enqueue(
                task=SEND_BOOKING_MESSAGE_TASK,
                args=[invite_id, booking_id, kind],
                kwargs={"check": check + 1},
                delay=timedelta(seconds=SEND_LEASE_SECONDS + 1),
            )
            logger.warning(
                "%s for invite %s: not known yet whether sent, checked again later: %s",
                kind.capitalize(),
                invite_id,
                exc.reason,
            )
            return False
        outcome = "not known whether sent" if isinstance(exc, NotifyOutcomeUnknown) else "not sent"
        logger.warning("%s for invite %s %s: %s", kind.capitalize(), invite_id, outcome, exc.reason)
        return False
    except NotifyPermanentError as exc:
        logger.warning("%s for invite %s not sent: %s", kind.capitalize(), invite_id, exc.reason)
        return False
    return True


# --- Waves matched to capacity ----------------------------------------------------------------

STATE_SENDING = "sending"
STATE_PAUSED = "paused"
STATE_DONE = "done"

REASON_NOT_ACTIVE = "campaign not active"
REASON_ENDED = "campaign over"
REASON_EVERYONE_INVITED = "everyone invited"
REASON_NO_PATIENTS = "no patients yet"
REASON_NO_SLOTS = "no free slots"
REASON_HOURS = "waiting for sending hours"
REASON_CAP = "daily cap reached"
REASON_ENOUGH_OUT = "enough invitations out"
REASON_INVITING = "inviting"


@dataclass(frozen=True)
class WavePlan:
    """What a wave would do now, and why. `to_invite` is how many patients it
    invites (0 when paused)."""

    state: str
    reason: str
    detail: str
    free_slots: int = 0
    open_invites: int = 0
    invited_today: int = 0
    eligible: int = 0
    to_invite: int = 0

    @property
    def label(self) -> str:
        if self.state == STATE_PAUSED:
            return f"Paused: {self.reason}"
        if self.state == STATE_DONE:
            return f"Done: {self.reason}"
        return "Sending"


def open_invites(*, campaign: Campaign, now: datetime | None = None) -> QuerySet[Invite]:
    """Invitations still waiting for an answer: queued or sent, not used to book,
    not declined, not expired, the patient not booked some other way."""
    booked = _booked(campaign, "patient_id")
    return (
        Invite.objects.filter(
            campaign=campaign,
            delivery_status__in=OPEN_DELIVERY,
            used_at__isnull=True,
            declined_at__isnull=True,
            expires_at__gt=_now(now),
        )
        .exclude(call_outcome__in=SETTLED_OUTCOMES)
        .exclude(Exists(booked))
    )


def _london_midnight(now: datetime) -> datetime:
    local = timezone.localtime(now, LONDON)
    return datetime.combine(local.date(), time.min, tzinfo=LONDON)


def _hours_text(campaign: Campaign) -> str:
    """ "09:00 and 19:00": what follows "between" in the messages below."""
    return f"{campaign.sending_from:%H:%M} and {campaign.sending_until:%H:%M}"


def campaign_wave_plan(*, campaign: Campaign, now: datetime | None = None) -> WavePlan:
    """The campaign's sending state and what its next wave would send."""
    now = _now(now)
    if campaign.status == CampaignStatus.CLOSED:
        return WavePlan(STATE_DONE, REASON_ENDED, "The campaign is closed.")
    _, end = campaign_full_window(campaign)
    if now >= end:
        return WavePlan(STATE_DONE, REASON_ENDED, "The campaign's last day has passed.")
    if not campaign.is_active:
        return WavePlan(
            STATE_PAUSED,
            REASON_NOT_ACTIVE,
            "The campaign is a draft: make it active to send invitations.",
        )
    eligible = eligible_patients(campaign=campaign).count()
    if eligible == 0 and not CampaignPatient.objects.filter(campaign=campaign).exists():
        return WavePlan(
            STATE_PAUSED,
            REASON_NO_PATIENTS,
            "There are no patients on the campaign yet. Add patients and invitations go "
            "out to them.",
        )
    if eligible == 0:
        return WavePlan(
            STATE_DONE,
            REASON_EVERYONE_INVITED,
            "Every patient on the campaign who can be invited has been. Reminders carry on.",
        )
    free = campaign_offerable_slots(campaign=campaign).count()
    if free == 0:
        return WavePlan(
            STATE_PAUSED,
            REASON_NO_SLOTS,
            "There are no free slots to book, so no more invitations are sent. Sending "
            "resumes by itself when slots appear.",
            eligible=eligible,
        )
    open_count = open_invites(campaign=campaign, now=now).count()
    invited_today = Invite.objects.filter(
        campaign=campaign, created_at__gte=_london_midnight(now)
    ).count()
    wanted = math.ceil(free * campaign.invites_per_free_slot) - open_count
    counts = {
        "free_slots": free,
        "open_invites": open_count,
        "invited_today": invited_today,
        "eligible": eligible,
    }
    if not in_sending_hours(campaign=campaign, now=now):
        return WavePlan(
            STATE_PAUSED,
            REASON_HOURS,
            f"Invitations are sent between {_hours_text(campaign)} only; they go out "
            "automatically from then.",
            **counts,
        )
    left_today = campaign.daily_invite_cap - invited_today
    if left_today <= 0:
        return WavePlan(
            STATE_PAUSED,
            REASON_CAP,
            f"{invited_today} invitations went today, the most allowed per day "
            f"({campaign.daily_invite_cap}). More go tomorrow.",
            **counts,
        )
    if wanted <= 0:
        return WavePlan(
            STATE_SENDING,
            REASON_ENOUGH_OUT,
            f"{open_count} invitations are waiting for an answer for {free} free slots. "
            "More go as patients book, decline or their links expire.",
            **counts,
        )
    to_invite = min(wanted, left_today, eligible)
    return WavePlan(
        STATE_SENDING,
        REASON_INVITING,
        f"{free} free slots: up to {to_invite} more invitations can go now.",
        to_invite=to_invite,
        **counts,
    )


def campaign_invite_state(*, campaign: Campaign, now: datetime | None = None) -> WavePlan:
    """Sending / paused (why) / done, for staff pages."""
    return campaign_wave_plan(campaign=campaign, now=now)


@dataclass(frozen=True)
class WaveResult:
    plan: WavePlan
    invited: int


def _record_state(*, campaign: Campaign, plan: WavePlan, actor: Any) -> None:
    """Audit each change of the campaign's sending state: paused (and why),
    resumed, done. While sending, waves that find enough invitations out are not
    a change."""
    last = (
        AuditEntry.objects.filter(
            action="invites.wave_state",
            object_id=str(campaign.pk),
            content_type__app_label="booking",
            content_type__model="campaign",
        )
        .order_by("-created_at", "-pk")
        .values_list("details", flat=True)
        .first()
    )
    reason = "" if plan.state == STATE_SENDING else plan.reason
    current = {"state": plan.state, "reason": reason}
    if last is None or {k: last.get(k) for k in current} != current:
        audit_record(
            actor=actor,
            action="invites.wave_state",
            target=campaign,
            organisation=campaign.practice,
            details={**current, "free_slots": plan.free_slots, "open": plan.open_invites},
        )


@transaction.atomic
def campaign_send_wave(
    *, campaign: Campaign, now: datetime | None = None, user: Any = None
) -> WaveResult:
    """Invite the next patients, as many as the free slots call for (free slots
    across the campaign's live sources × invites per free slot, less the
    invitations still open), at most the daily cap, inside sending hours only.
    Records (audits) when the campaign pauses or resumes and why. Run by beat for
    every active campaign, and by staff ("Invite all eligible patients")."""
    now = _now(now)
    if user is not None:
        _ensure_may_invite(campaign=campaign, user=user)
    actor = user if user is not None else WAVE_ACTOR
    _lock_campaign(campaign)
    plan = campaign_wave_plan(campaign=campaign, now=now)
    _record_state(campaign=campaign, plan=plan, actor=actor)
    if plan.to_invite <= 0:
        return WaveResult(plan, 0)
    rows = list(
        eligible_patients(campaign=campaign).values("pk", "mobile", "email")[: plan.to_invite]
    )
    created = _insert_invites(campaign=campaign, rows=rows, now=now)
    audit_record(
        actor=actor,
        action="invites.created",
        target=campaign,
        organisation=campaign.practice,
        details={
            "created": len(created),
            "via": "wave",
            "free_slots": plan.free_slots,
            "open_before": plan.open_invites,
        },
    )
    logger.info(
        "Campaign %s wave: %s invited (%s free slots, %s open)",
        campaign.pk,
        len(created),
        plan.free_slots,
        plan.open_invites,
    )
    return WaveResult(plan, len(created))


# --- Reminders (chasers) ----------------------------------------------------------------------


def _last_message_at() -> Any:
    from django.db.models.functions import Coalesce

    return Coalesce("last_reminder_at", "sent_at")


def _awaiting_answer(campaign: Campaign) -> QuerySet[Invite]:
    """Sent invitations with no answer: not booked (by link, by staff or by
    phone), not declined, the patient not opted out and still on the campaign's
    list (a patient removed from it is reminded of nothing)."""
    booked = _booked(campaign, "patient_id")
    on_list = CampaignPatient.objects.filter(campaign=campaign, patient_id=OuterRef("patient_id"))
    return (
        Invite.objects.filter(
            Exists(on_list),
            campaign=campaign,
            delivery_status=DeliveryStatus.SENT,
            used_at__isnull=True,
            declined_at__isnull=True,
            patient__opted_out_of_messages=False,
        )
        .exclude(call_outcome__in=SETTLED_OUTCOMES)
        .exclude(Exists(booked))
        .annotate(last_message_at=_last_message_at())
    )


def invites_due_reminder(
    *, campaign: Campaign, now: datetime | None = None, min_gap: timedelta | None = None
) -> QuerySet[Invite]:
    """Invitations due a reminder: no answer, fewer reminders sent than the
    campaign's chaser count, the last message at least `min_gap` ago (the
    campaign's interval by default), no reminder queued and not settled yet, and
    no reminder failed for good within that gap."""
    now = _now(now)
    gap = min_gap if min_gap is not None else timedelta(days=campaign.chaser_interval_days)
    return _awaiting_answer(campaign).filter(
        Q(last_message_at__lte=now - gap),
        Q(reminder_queued_at__isnull=True)
        | Q(reminder_queued_at__lt=now - REMINDER_CLAIM_STALE_AFTER),
        Q(reminder_failed_at__isnull=True) | Q(reminder_failed_at__lte=now - gap),
        reminders_sent__lt=campaign.chaser_count,
    )


@dataclass(frozen=True)
class ReminderResult:
    queued: int
    reason: str = ""


@transaction.atomic
def invites_send_reminders(
    *,
    campaign: Campaign,
    now: datetime | None = None,
    user: Any = None,
    min_gap: timedelta | None = None,
) -> ReminderResult:
    """Queue the reminders that are due (beat), or, from staff ("Send reminders
    now"), reminders to everyone not answered whose last message is at least
    INVITE_MANUAL_REMINDER_MIN_GAP_HOURS old. Each reminder is claimed once
    (compare-and-swap on `reminder_queued_at`) and its send task written to the
    outbox in the same transaction; it extends the link's expiry (never past the
    campaign's end) and is sent inside sending hours only. It counts as sent
    (`reminders_sent`, `last_reminder_at`) only when the send task has sent it."""
    now = _now(now)
    if user is not None:
        _ensure_may_invite(campaign=campaign, user=user)
        if min_gap is None:
            min_gap = timedelta(hours=settings.INVITE_MANUAL_REMINDER_MIN_GAP_HOURS)
    if not campaign.is_active:
        return ReminderResult(0, "The campaign is not active.")
    if now >= campaign_full_window(campaign)[1]:
        return ReminderResult(0, "The campaign is over.")
    if campaign.chaser_count == 0:
        return ReminderResult(0, "This campaign sends no reminders.")
    if not in_sending_hours(campaign=campaign, now=now):
        return ReminderResult(
            0, f"Reminders are sent between {_hours_text(campaign)} only. Try again then."
        )
    expires_at = invite_expiry(campaign=campaign, now=now)
    claimed: list[list[int]] = []
    due = invites_due_reminder(campaign=campaign, now=now, min_gap=min_gap).values_list(
        "pk", "reminders_sent", "reminder_queued_at"
    )
    for invite_id, number, queued_at in due:
        if Invite.objects.filter(
            pk=invite_id, reminders_sent=number, reminder_queued_at=queued_at
        ).update(reminder_queued_at=now, expires_at=expires_at):
            claimed.append([invite_id, number + 1])
    if claimed:
        outbox_enqueue_many(task=SEND_REMINDER_TASK, args_list=claimed)
        audit_record(
            actor=user if user is not None else REMINDER_ACTOR,
            action="invites.reminders_queued",
            target=campaign,
            organisation=campaign.practice,
            details={"queued": len(claimed)},
        )
    return ReminderResult(len(claimed), "" if claimed else "No patient is due a reminder.")


def reminder_send(
    *, invite_id: int, number: int, attempt: int = 1, final_attempt: bool = True
) -> bool:
    """Send reminder `number` of an invitation (the task's body), once. Skipped when
    it was sent already, or the patient answered or opted out meanwhile (the claim
    is released). Sent: it counts in `reminders_sent` and `last_reminder_at`, in the
    transaction that marks its send record sent. Transient failures propagate for
    the task to retry, until the final attempt, which releases the claim: the next
    round queues it again. A permanent failure (a bad number) is recorded, and the
    next try waits the campaign's interval."""
    invite = (
        Invite.objects.select_related("campaign", "campaign__practice", "patient")
        .filter(pk=invite_id)
        .first()
    )
    if invite is None or invite.reminders_sent >= number:
        return False
    if invite.reminders_sent != number - 1 or _not_sendable_reason(
        invite, _booked_patients([invite])
    ):
        _mark(invite.pk, reminder_queued_at=None)
        return False

    def sent(provider_id: str) -> None:
        Invite.objects.filter(pk=invite.pk, reminders_sent=number - 1).update(
            reminders_sent=number,
            last_reminder_at=timezone.now(),
            reminder_queued_at=None,
            reminder_failed_at=None,
        )

    channel = _channel_now(invite)
    try:
        _send_once(
            key=f"reminder:{invite.pk}:{number}",
            kind="reminder",
            invite=invite,
            number=number,
            build=lambda reference: _message(
                invite=invite, kind="reminder", channel=channel, reference=reference
            ),
            on_sent=sent,
        )
    except NotifyPermanentError as exc:
        _mark(
            invite.pk,
            delivery_error=f"Reminder {number} not sent: {exc.reason}"[:300],
            reminder_queued_at=None,
            reminder_failed_at=timezone.now(),
        )
        logger.warning("Reminder %s of invite %s not sent: %s", number, invite.pk, exc.reason)
        return False
    except NotifyTransientError as exc:
        if not final_attempt:
            raise
        _mark(
            invite.pk,
            delivery_error=f"Reminder {number} not sent after {attempt} tries: {exc.reason}"[:300],
            reminder_queued_at=None,
        )
        logger.warning("Reminder %s of invite %s not sent: %s", number, invite.pk, exc.reason)
        return False
    return True


# --- Sending each message once ------------------------------------------------------------


def _new_reference(key: str) -> str:
    """Unique to one message, and to this database (a reset demo reuses ids)."""
    return f"hippo-{key.replace(':', '-')}-{uuid.uuid4().hex[:12]}"[:80]


def _send_once(
    *,
    key: str,
    kind: str,
    invite: Invite,
    build: Callable[[str], Message],
    booking: Booking | None = None,
    number: int = 0,
    backend: Backend | None = None,
    on_sent: Callable[[str], None] | None = None,
) -> bool:
    """Send the message whose send record has this key, unless it went already.
    Returns True when it went now, False when it had gone before; raises
    NotifyPermanentError or NotifyTransientError when it did not go.

    "Sending" is committed before the notifier is called, with the message's
    reference. A redelivered task that finds "sending" (its worker died mid-send,
    or the notifier's answer was lost) asks the notifier for the reference: found,
    it is marked sent, not sent again; not found and older than SEND_LEASE_SECONDS,
    it was never sent and goes now; not found and newer, another worker may still
    be sending it, so the task retries later. Any later try asks first as well. "Sent" and `on_sent` (the caller's
    mark: the invitation sent, the reminder counted) commit in one transaction."""
    backend = backend or get_backend()
    record, _ = MessageSend.objects.get_or_create(
        key=key,
        defaults={
            "kind": kind,
            "invite": invite,
            "booking": booking,
            "number": number,
            "reference": _new_reference(key),
        },
    )
    now = timezone.now()
    with transaction.atomic():
        record = MessageSend.objects.select_for_update().get(pk=record.pk)
        if record.status == MessageSendStatus.SENT:
            return False
        if record.status == MessageSendStatus.SENDING or record.attempts:
            # Tried before (an error may have come after Notify saved it): ask first.
            provider_id = backend.lookup(record.reference)
            if provider_id is not None:
                _record_sent(record, provider_id=provider_id, on_sent=on_sent)
                logger.info("Message %s had gone: settled without sending again", record.key)
                return False
        if record.status == MessageSendStatus.SENDING:
            since = record.sending_since or now
            if since > now - timedelta(seconds=SEND_LEASE_SECONDS):
                raise NotifyOutcomeUnknown(
                    "This message is being sent by another worker; it is checked again later."
                )
        record.status = MessageSendStatus.SENDING
        record.sending_since = now
        record.attempts += 1
        record.save(update_fields=["status", "sending_since", "attempts"])
    try:
        provider_id = message_send(message=build(record.reference), backend=backend)
    except NotifyOutcomeUnknown as exc:
        # Perhaps sent: stays "sending", and the next try asks the notifier first.
        MessageSend.objects.filter(pk=record.pk).update(error=exc.reason)
        raise
    except NotifyPermanentError as exc:
        _record_not_sent(record, status=MessageSendStatus.FAILED, error=exc.reason)
        raise
    except NotifyTransientError as exc:
        _record_not_sent(record, status=MessageSendStatus.PENDING, error=exc.reason)
        raise
    with transaction.atomic():
        _record_sent(record, provider_id=provider_id, on_sent=on_sent)
    return True


def _record_sent(
    record: MessageSend, *, provider_id: str, on_sent: Callable[[str], None] | None
) -> None:
    MessageSend.objects.filter(pk=record.pk).update(
        status=MessageSendStatus.SENT,
        provider_id=provider_id[:64],
        sent_at=timezone.now(),
        error="",
    )
    if on_sent is not None:
        on_sent(provider_id)


def _record_not_sent(record: MessageSend, *, status: str, error: str) -> None:
    MessageSend.objects.filter(pk=record.pk, status=MessageSendStatus.SENDING).update(
        status=status, sending_since=None, error=error[:300]
    )


# --- Non-responders and call outcomes -------------------------------------------------------------


def non_responders(
    *, campaign: Campaign, now: datetime | None = None, include_called: bool = False
) -> QuerySet[Invite]:
    """Patients to phone: every reminder sent and the interval since the last one
    passed with no answer, or the invitation could not be delivered at all. By
    default, those already phoned with a final outcome are left out; "no answer"
    stays on the list."""
    now = _now(now)
    interval = timedelta(days=campaign.chaser_interval_days)
    base = Invite.objects.filter(campaign=campaign, used_at__isnull=True, declined_at__isnull=True)
    booked = _booked(campaign, "patient_id")
    chased_out = Q(
        delivery_status=DeliveryStatus.SENT,
        reminders_sent__gte=campaign.chaser_count,
        last_message_at__lte=now - interval,
    )
    undeliverable = Q(delivery_status=DeliveryStatus.FAILED)
    found = (
        base.annotate(last_message_at=_last_message_at())
        .filter(chased_out | undeliverable)
        .exclude(Exists(booked))
        .select_related("patient", "call_outcome_by")
        .order_by("patient__last_name", "patient__first_name", "pk")
    )
    if not include_called:
        found = found.exclude(call_outcome__in=SETTLED_OUTCOMES)
    return found


@transaction.atomic
def invite_record_call_outcome(*, invite: Invite, outcome: str, user: Any) -> Invite:
    """Record what happened when staff phoned a non-responder. "Declined" also
    marks the invitation declined, so nothing more is sent."""
    _ensure_may_invite(campaign=invite.campaign, user=user)
    if outcome not in CallOutcome.values:
        raise ValidationError({"outcome": "Choose what happened on the call."})
    now = timezone.now()
    fields: dict[str, Any] = {
        "call_outcome": outcome,
        "call_outcome_by": user,
        "call_outcome_at": now,
    }
    Invite.objects.filter(pk=invite.pk).update(**fields)
    if outcome == CallOutcome.DECLINED:
        Invite.objects.filter(pk=invite.pk, declined_at__isnull=True).update(declined_at=now)
    invite.refresh_from_db()
    audit_record(
        actor=user,
        action="invite.call_outcome",
        target=invite,
        organisation=invite.campaign.practice,
        details={"outcome": outcome, "patient_id": invite.patient_id},
    )
    return invite


# --- Counts and pages for staff -----------------------------------------------------------------


@dataclass(frozen=True)
class InviteCounts:
    invited: int
    queued: int
    delivered: int
    failed: int
    booked_practice: int
    booked_pcn: int
    declined: int
    cancelled: int
    not_yet_booked: int
    non_responders: int

    @property
    def booked(self) -> int:
        return self.booked_practice + self.booked_pcn


def campaign_invite_counts(*, campaign: Campaign, now: datetime | None = None) -> InviteCounts:
    """The campaign's figures for staff (four queries)."""
    invites = Invite.objects.filter(campaign=campaign).aggregate(
        invited=Count("pk"),
        queued=Count("pk", filter=Q(delivery_status=DeliveryStatus.QUEUED)),
        delivered=Count("pk", filter=Q(delivery_status=DeliveryStatus.SENT)),
        failed=Count("pk", filter=Q(delivery_status=DeliveryStatus.FAILED)),
        declined=Count("pk", filter=Q(declined_at__isnull=False)),
    )
    bookings = Booking.objects.filter(campaign=campaign).aggregate(
        practice=Count("pk", filter=Q(status=BookingStatus.BOOKED, is_pcn=False)),
        pcn=Count("pk", filter=Q(status=BookingStatus.BOOKED, is_pcn=True)),
        # A rebooking cancels the old appointment: that is a move, not a cancellation.
        cancelled=Count("pk", filter=Q(status=BookingStatus.CANCELLED, replaced_by__isnull=True)),
    )
    not_yet = (
        Invite.objects.filter(campaign=campaign, declined_at__isnull=True)
        .exclude(call_outcome__in=SETTLED_OUTCOMES)
        .exclude(Exists(_booked(campaign, "patient_id")))
        .count()
    )
    return InviteCounts(
        invited=invites["invited"],
        queued=invites["queued"],
        delivered=invites["delivered"],
        failed=invites["failed"],
        booked_practice=bookings["practice"],
        booked_pcn=bookings["pcn"],
        declined=invites["declined"],
        cancelled=bookings["cancelled"],
        not_yet_booked=not_yet,
        non_responders=non_responders(campaign=campaign, now=now).count(),
    )


@dataclass(frozen=True)
class InvitePanel:
    """What the campaign page's Invitations panel shows."""

    campaign: Campaign
    counts: InviteCounts
    state: WavePlan
    demo_messages: bool


def campaign_invite_panel(*, campaign: Campaign) -> InvitePanel:
    return InvitePanel(
        campaign=campaign,
        counts=campaign_invite_counts(campaign=campaign),
        state=campaign_invite_state(campaign=campaign),
        demo_messages=bool(settings.DEMO_MODE),
    )


INVITE_FILTERS = {
    "": Q(),
    "queued": Q(delivery_status=DeliveryStatus.QUEUED),
    "sent": Q(delivery_status=DeliveryStatus.SENT),
    "failed": Q(delivery_status=DeliveryStatus.FAILED),
    "declined": Q(declined_at__isnull=False),
    "booked": Q(used_at__isnull=False),
}


def invites_for_campaign(*, campaign: Campaign, status: str = "") -> QuerySet[Invite]:
    """A campaign's invitations, newest first, with their patients (no tokens)."""
    return (
        Invite.objects.filter(campaign=campaign)
        .filter(INVITE_FILTERS.get(status, Q()))
        .select_related("patient", "booking")
        .defer("token_salt", "token_hash")
        .order_by("-created_at", "-pk")
    )


def demo_messages_with_recipients(*, practice: Organisation) -> list[dict[str, Any]]:
    """The demo's messages of one practice (newest first), each with the patient
    and campaign it went to, so the demo's user knows whose date of birth opens
    its link. The message file outlives a reset demo database, so a message is
    matched to its invitation only when it carries that invitation's own link."""
    items = demo_messages_for_practice(practice_id=practice.pk)
    found = Invite.objects.filter(campaign__practice=practice).select_related("patient", "campaign")
    invites = found.in_bulk(
        [item["invite_id"] for item in items if isinstance(item.get("invite_id"), int)]
    )
    for item in items:
        invite = invites.get(item.get("invite_id"))  # type: ignore[arg-type]
        if invite is not None and token_for_salt(invite.token_salt) in str(item.get("body")):
            item["patient"] = invite.patient
            item["campaign"] = invite.campaign.name
    return items
