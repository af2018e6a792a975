"""What a booking change that did not happen says, in words for the person
booking: the errors the booking services raise and their messages."""

from __future__ import annotations

from ..models import Slot


class BookingError(Exception):
    """A booking change that did not happen, in words for the person booking."""

    def __init__(self, message: str, *, alternatives: list[Slot] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.alternatives = alternatives or []


class SlotTaken(BookingError):
    """Somebody else has the slot: offered with the nearest free ones."""


class BookingOutcomeUnknown(BookingError):
    """EMIS may have made the appointment and could not be asked whether it did:
    the booking keeps its slot (OUTCOME_UNKNOWN) until booking_settle settles it."""


EMIS_DOWN_MESSAGE = "EMIS did not answer; nothing was booked. Please try again."
OUTCOME_UNKNOWN_MESSAGE = (
    "We could not confirm with EMIS whether the appointment was made. We are checking and "
    "will settle it within a few minutes; please don't book again."
)
