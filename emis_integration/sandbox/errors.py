"""Errors the sandbox answers with: each maps to an HTTP status, a Spine error
code (emis_integration.gpconnect) and an OperationOutcome issue type."""

from __future__ import annotations

from emis_integration import gpconnect as gpc

SPINE_DISPLAY = {
    gpc.ERR_BAD_REQUEST: "Bad request",
    gpc.ERR_INVALID_PARAMETER: "Submitted parameter is not valid.",
    gpc.ERR_INVALID_RESOURCE: "Submitted resource is not valid.",
    gpc.ERR_DUPLICATE_REJECTED: "Create would lead to creation of a duplicate resource",
    gpc.ERR_FHIR_CONSTRAINT_VIOLATION: "FHIR constraint violated",
    gpc.ERR_INVALID_NHS_NUMBER: "NHS number invalid",
    gpc.ERR_PATIENT_NOT_FOUND: "Patient record not found",
    gpc.ERR_NO_RECORD_FOUND: "No record found",
    gpc.ERR_ORGANISATION_NOT_FOUND: "Organisation record not found",
    gpc.ERR_ACCESS_DENIED: "Access denied",
    gpc.ERR_NOT_IMPLEMENTED: "FHIR resource or operation not implemented at server",
    gpc.ERR_INTERNAL_SERVER_ERROR: "Unexpected internal server error",
}


class SandboxError(Exception):
    """Base class: `status` (HTTP), `code` (Spine), `issue_type` (FHIR)."""

    status: int = 500
    code: str = gpc.ERR_INTERNAL_SERVER_ERROR
    issue_type: str = "exception"

    def __init__(self, diagnostics: str) -> None:
        super().__init__(diagnostics)
        self.diagnostics = diagnostics


class BadRequest(SandboxError):
    status = 400
    code = gpc.ERR_BAD_REQUEST
    issue_type = "invalid"


class InvalidNhsNumber(SandboxError):
    status = 400
    code = gpc.ERR_INVALID_NHS_NUMBER
    issue_type = "value"


class AccessDenied(SandboxError):
    """401 for credentials (signature, the reject-auth knob); 403 for a wrong Ssp-To."""

    status = 401
    code = gpc.ERR_ACCESS_DENIED
    issue_type = "forbidden"

    def __init__(self, diagnostics: str, *, status: int = 401) -> None:
        super().__init__(diagnostics)
        self.status = status


class OrganisationNotFound(SandboxError):
    status = 404
    code = gpc.ERR_ORGANISATION_NOT_FOUND
    issue_type = "not-found"


class NoRecordFound(SandboxError):
    status = 404
    code = gpc.ERR_NO_RECORD_FOUND
    issue_type = "not-found"


class PatientNotFound(SandboxError):
    status = 404
    code = gpc.ERR_PATIENT_NOT_FOUND
    issue_type = "not-found"


class GatewayTimeout(SandboxError):
    """The commit_then_fail fault knob: the work was done, the answer is lost."""

    status = 504
    code = gpc.ERR_INTERNAL_SERVER_ERROR
    issue_type = "timeout"


class MethodNotAllowed(SandboxError):
    status = 405
    code = gpc.ERR_BAD_REQUEST
    issue_type = "not-supported"

    def __init__(self, diagnostics: str, *, allowed: list[str]) -> None:
        super().__init__(diagnostics)
        self.allowed = allowed


class DuplicateRejected(SandboxError):
    status = 409
    code = gpc.ERR_DUPLICATE_REJECTED
    issue_type = "duplicate"


class ConstraintViolation(SandboxError):
    status = 409
    code = gpc.ERR_FHIR_CONSTRAINT_VIOLATION
    issue_type = "conflict"


class InvalidParameter(SandboxError):
    status = 422
    code = gpc.ERR_INVALID_PARAMETER
    issue_type = "invalid"


class InvalidResource(SandboxError):
    status = 422
    code = gpc.ERR_INVALID_RESOURCE
    issue_type = "invalid"


class ReferenceNotFound(SandboxError):
    status = 422
    code = gpc.ERR_REFERENCE_NOT_FOUND
    issue_type = "invalid"


class InternalServerError(SandboxError):
    status = 500
    code = gpc.ERR_INTERNAL_SERVER_ERROR
    issue_type = "exception"


class NotImplementedAtServer(SandboxError):
    status = 501
    code = gpc.ERR_NOT_IMPLEMENTED
    issue_type = "not-supported"


class UnsupportedMediaType(SandboxError):
    """The Partner API answers JSON only (a real EMIS also speaks XML)."""

    status = 415
    code = gpc.ERR_BAD_REQUEST
    issue_type = "not-supported"
