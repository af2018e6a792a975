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

One module per sub-domain: common, messages, eligibility, send_once, sending,
booking_messages, waves, reminders, staff. Public names stay importable from here."""

from ..selectors import LONDON
from .booking_messages import (
    BOOKING_MESSAGE_MAX_CHECKS,
    STAFF_CHANGE_KINDS,
    booking_message_patient,
    booking_message_send,
    booking_staff_message_note,
    invite_send_cancellation,
    invite_send_confirmation,
)
from .common import (
    ACTIVE_BOOKING,
    INSERT_BATCH_SIZE,
    OPEN_DELIVERY,
    REMINDER_ACTOR,
    REMINDER_CLAIM_STALE_AFTER,
    SEND_BOOKING_MESSAGE_TASK,
    SEND_INVITES_TASK,
    SEND_LEASE_SECONDS,
    SEND_REMINDER_TASK,
    SETTLED_OUTCOMES,
    STALE_QUEUED_AFTER,
    WAVE_ACTOR,
)
from .eligibility import (
    SKIP_REASONS,
    campaign_full_window,
    eligible_patients,
    invite_expiry,
)
from .messages import (
    invite_link,
)
from .reminders import (
    ReminderResult,
    invites_due_reminder,
    invites_send_reminders,
    reminder_send,
)
from .sending import (
    InviteCreateResult,
    SendResult,
    in_sending_hours,
    invites_create,
    invites_requeue_stale,
    invites_send_batch,
)
from .staff import (
    INVITE_FILTERS,
    InviteCounts,
    InvitePanel,
    campaign_invite_counts,
    campaign_invite_panel,
    demo_messages_with_recipients,
    invite_record_call_outcome,
    invites_for_campaign,
    non_responders,
)
from .waves import (
    REASON_CAP,
    REASON_ENDED,
    REASON_ENOUGH_OUT,
    REASON_EVERYONE_INVITED,
    REASON_HOURS,
    REASON_INVITING,
    REASON_NO_PATIENTS,
    REASON_NO_SLOTS,
    REASON_NOT_ACTIVE,
    STATE_DONE,
    STATE_PAUSED,
    STATE_SENDING,
    WAVE_STATE_ACTION,
    WavePlan,
    WaveResult,
    campaign_invite_state,
    campaign_send_wave,
    campaign_state_since,
    campaign_wave_plan,
    open_invites,
)

__all__ = [
    "ACTIVE_BOOKING",
    "BOOKING_MESSAGE_MAX_CHECKS",
    "INSERT_BATCH_SIZE",
    "INVITE_FILTERS",
    "InviteCounts",
    "InviteCreateResult",
    "InvitePanel",
    "LONDON",
    "OPEN_DELIVERY",
    "REASON_CAP",
    "REASON_ENDED",
    "REASON_ENOUGH_OUT",
    "REASON_EVERYONE_INVITED",
    "REASON_HOURS",
    "REASON_INVITING",
    "REASON_NOT_ACTIVE",
    "REASON_NO_PATIENTS",
    "REASON_NO_SLOTS",
    "REMINDER_ACTOR",
    "REMINDER_CLAIM_STALE_AFTER",
    "ReminderResult",
    "SEND_BOOKING_MESSAGE_TASK",
    "SEND_INVITES_TASK",
    "SEND_LEASE_SECONDS",
    "SEND_REMINDER_TASK",
    "SETTLED_OUTCOMES",
    "SKIP_REASONS",
    "STAFF_CHANGE_KINDS",
    "STALE_QUEUED_AFTER",
    "STATE_DONE",
    "STATE_PAUSED",
    "STATE_SENDING",
    "SendResult",
    "WAVE_ACTOR",
    "WAVE_STATE_ACTION",
    "WavePlan",
    "WaveResult",
    "booking_message_patient",
    "booking_message_send",
    "booking_staff_message_note",
    "campaign_full_window",
    "campaign_invite_counts",
    "campaign_invite_panel",
    "campaign_invite_state",
    "campaign_send_wave",
    "campaign_state_since",
    "campaign_wave_plan",
    "demo_messages_with_recipients",
    "eligible_patients",
    "in_sending_hours",
    "invite_expiry",
    "invite_link",
    "invite_record_call_outcome",
    "invite_send_cancellation",
    "invite_send_confirmation",
    "invites_create",
    "invites_due_reminder",
    "invites_for_campaign",
    "invites_requeue_stale",
    "invites_send_batch",
    "invites_send_reminders",
    "non_responders",
    "open_invites",
    "reminder_send",
]
