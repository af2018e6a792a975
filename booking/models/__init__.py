"""Booking's tables, one module per sub-domain:

* patients: a practice's patients, and the CSV imports that add them;
* campaigns: a practice's campaigns, their window of dates and sending state;
* slots: the mirror of EMIS free slots;
* bookings: appointments made in EMIS, and which of them are active;
* invites: a patient's link to book, and each message sent to a patient.

Every public name stays importable from `booking.models`."""

from .bookings import (
    ACTIVE_BOOKING_STATUSES,
    UNSETTLED_BOOKING_STATUSES,
    BookedVia,
    Booking,
    BookingQuerySet,
    BookingStatus,
)
from .campaigns import Campaign, CampaignPatient, CampaignStatus, SendingState
from .invites import (
    CallOutcome,
    DeclineReason,
    DeliveryStatus,
    Invite,
    InviteChannel,
    MessageKind,
    MessageSend,
    MessageSendStatus,
)
from .patients import Patient, PatientImport, PatientImportStatus
from .slots import Slot

__all__ = [
    "ACTIVE_BOOKING_STATUSES",
    "UNSETTLED_BOOKING_STATUSES",
    "BookedVia",
    "Booking",
    "BookingQuerySet",
    "BookingStatus",
    "CallOutcome",
    "Campaign",
    "CampaignPatient",
    "CampaignStatus",
    "DeclineReason",
    "DeliveryStatus",
    "Invite",
    "InviteChannel",
    "MessageKind",
    "MessageSend",
    "MessageSendStatus",
    "Patient",
    "PatientImport",
    "PatientImportStatus",
    "SendingState",
    "Slot",
]
