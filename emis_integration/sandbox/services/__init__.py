"""Writes to the sandbox's tables, by sub-domain: booking and cancelling through
GP Connect (booking), patient records (patients), slots and their sessions
(slots), what staff do inside EMIS (simulation), and the fault knobs (faults)."""

from .booking import appointment_book, appointment_cancel
from .faults import organisation_set_faults
from .patients import appointment_records_assign, patient_record_for_booking, patient_register
from .simulation import Move, SimulationError, SimulationResult, bookings_simulate
from .slots import local_day, slot_sessions_assign, slots_create

__all__ = [
    "Move",
    "SimulationError",
    "SimulationResult",
    "appointment_book",
    "appointment_cancel",
    "appointment_records_assign",
    "bookings_simulate",
    "local_day",
    "organisation_set_faults",
    "patient_record_for_booking",
    "patient_register",
    "slot_sessions_assign",
    "slots_create",
]
