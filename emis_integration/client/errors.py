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


class EmisAuthError(EmisError):
    """EMIS refused our credentials (401/403)."""
