"""Writes for booking, one module per sub-domain:

* `imports`: patient imports (preview an uploaded CSV file, then confirm or discard it);
* `campaigns`: create, change, add patients, queue their slot refreshes;
* `slot_mirror`: EMIS's free slots, refreshed;
* `bookings`: book, cancel, move (rebook), with no double-booking;
* `settlement`: settle a booking whose outcome in EMIS is unknown, and the
  reconciler that settles what is left;
* `booking_records`: record what EMIS did with a reserved slot (link or release);
* `booking_errors`: what a booking change that did not happen says.

Each service checks who may do it, runs in a transaction and writes the audit
entry. Patient data never goes into the audit log or the logs: records are named
by id. Public names stay importable from here. A name a test or the bench
patches is patched where it is looked up, for example
`booking.services.bookings._booking_outcome_unknown`."""

from .booking_errors import (
    EMIS_DOWN_MESSAGE,
    OUTCOME_UNKNOWN_MESSAGE,
    BookingError,
    BookingOutcomeUnknown,
    SlotTaken,
)
from .bookings import (
    ACTIVE_BOOKING,
    MOVE_REASON,
    _booking_outcome_unknown,
    _reserve,
    booking_cancel,
    booking_create,
    booking_rebook,
)
from .campaigns import (
    CAMPAIGN_FIELDS,
    INVITE_SETTINGS,
    MAX_CAMPAIGN_DAYS,
    NO_SLOT_TYPES_MESSAGE,
    SLOT_FILTER_FIELDS,
    campaign_add_patients,
    campaign_create,
    campaign_slots_refresh_queue,
    campaign_update,
    pcn_campaigns_slots_refresh_queue,
)
from .imports import (
    CHANGE_NEW,
    CHANGE_UNCHANGED,
    CHANGE_UPDATE,
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_ROWS,
    MAX_STORED_ERRORS,
    UPSERT_BATCH_SIZE,
    PatientImportNotPending,
    _ensure_may_manage_patients,
    file_too_large_message,
    human_file_size,
    patient_import_confirm,
    patient_import_discard,
    patient_import_max_bytes,
    patient_import_preview,
)
from .settlement import (
    ALREADY_SETTLED,
    SETTLED_BOOKED,
    SETTLED_RELEASED,
    booking_settle,
    bookings_reconcile,
)
from .slot_mirror import (
    PRACTICE_SLOT_LOOKAHEAD,
    RefreshResult,
    campaign_refresh_slots,
    practice_refresh_slots,
    slots_refresh,
)

__all__ = [
    "ACTIVE_BOOKING",
    "ALREADY_SETTLED",
    "BookingError",
    "BookingOutcomeUnknown",
    "CAMPAIGN_FIELDS",
    "CHANGE_NEW",
    "CHANGE_UNCHANGED",
    "CHANGE_UPDATE",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_ROWS",
    "EMIS_DOWN_MESSAGE",
    "INVITE_SETTINGS",
    "MAX_CAMPAIGN_DAYS",
    "MAX_STORED_ERRORS",
    "MOVE_REASON",
    "NO_SLOT_TYPES_MESSAGE",
    "OUTCOME_UNKNOWN_MESSAGE",
    "PRACTICE_SLOT_LOOKAHEAD",
    "PatientImportNotPending",
    "RefreshResult",
    "SETTLED_BOOKED",
    "SETTLED_RELEASED",
    "SLOT_FILTER_FIELDS",
    "SlotTaken",
    "UPSERT_BATCH_SIZE",
    "_booking_outcome_unknown",
    "_ensure_may_manage_patients",
    "_reserve",
    "booking_cancel",
    "booking_create",
    "booking_rebook",
    "booking_settle",
    "bookings_reconcile",
    "campaign_add_patients",
    "campaign_create",
    "campaign_refresh_slots",
    "campaign_slots_refresh_queue",
    "campaign_update",
    "file_too_large_message",
    "human_file_size",
    "patient_import_confirm",
    "patient_import_discard",
    "patient_import_max_bytes",
    "patient_import_preview",
    "pcn_campaigns_slots_refresh_queue",
    "practice_refresh_slots",
    "slots_refresh",
]
