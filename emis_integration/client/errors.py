"""Typed EMIS errors. Each carries a message in plain words for staff; none
carries credentials, tokens or patient identifiers."""

from __future__ import annotations


class EmisError(Exception):
    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        spine_code: str = "",
        diagnostics: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.spine_code = spine_code
        self.diagnostics = diagnostics

    def __str__(self) -> str:
        return self.message


class EmisUnavailable(EmisError):
    """EMIS did not answer usefully: timeouts, refused connections, 5xx, 429.
    The only error that is retried. `retry_after`: the seconds a 429 (or 503)
    asked us to wait, when it said."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        spine_code: str = "",
        diagnostics: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(
            message, status_code=status_code, spine_code=spine_code, diagnostics=diagnostics
        )
        self.retry_after = retry_after


class AppointmentOutcomeUnknown(EmisUnavailable):
    """The booking POST failed after it may have reached EMIS (a read timeout, a
    dropped connection, a 5xx other than 503): EMIS may have made the
    appointment. Never retried; the caller must ask EMIS (a patient's
    appointments) before saying nothing was booked. `patient_id`: the patient's
    id at the provider; `registered`: booking registered them there."""

    def __init__(self, cause: EmisUnavailable, *, patient_id: str, registered: bool) -> None:
        super().__init__(
            cause.message,
            status_code=cause.status_code,
            spine_code=cause.spine_code,
            diagnostics=cause.diagnostics,
            retry_after=cause.retry_after,
        )
        self.patient_id = patient_id
        self.registered = registered


def may_have_reached_emis(exc: EmisUnavailable) -> bool:
    """False only when EMIS certainly did nothing: the connection was refused or
    never made, or it answered 503 or 429 (it did not take the request)."""
    if exc.status_code is None:
        return exc.spine_code != "CONNECT"
    return exc.status_code not in (429, 503)


class SlotUnavailable(EmisError):
    """The slot was taken (409 DUPLICATE_REJECTED on booking)."""


class PatientNotFound(EmisError):
    """EMIS does not know the patient."""


class EmisRejected(EmisError):
    """EMIS refused the request as invalid (400/404/409/422, 501) or answered with
    something that is not the FHIR (or Partner API JSON) it should be. Not retried."""


class PatientAlreadyRegistered(EmisRejected):
    """$gpc.registerpatient: the patient is already registered there."""


class RegistrationRefused(EmisRejected):
    """Booking needed a temporary registration and the provider refused it: its
    diagnostics say why."""


class PatientIdentityMismatch(EmisError):
    """The provider's record for the NHS number has another date of birth: it may
    be a different person (a mistyped NHS number), so nothing is booked."""


class EmisAuthError(EmisError):
    """EMIS refused our credentials (401/403)."""
