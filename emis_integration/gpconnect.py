"""GP Connect (FHIR STU3) names shared by the client and the bundled sandbox:
interaction ids, identifier systems, extension URLs and Spine error codes.
Values follow GP Connect Appointment Management 1.2.x (nhsconnect/gpconnect)."""

from __future__ import annotations

FHIR_JSON = "application/fhir+json"

# --- identifier and code systems ---------------------------------------------
NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
ODS_ORGANISATION_SYSTEM = "https://fhir.nhs.uk/Id/ods-organization-code"
ODS_SITE_SYSTEM = "https://fhir.nhs.uk/Id/ods-site-code"
SDS_USER_SYSTEM = "https://fhir.nhs.uk/Id/sds-user-id"
SDS_ROLE_PROFILE_SYSTEM = "https://fhir.nhs.uk/Id/sds-role-profile-id"
ORGANISATION_TYPE_SYSTEM = "https://fhir.nhs.uk/STU3/CodeSystem/GPConnect-OrganisationType-1"
SPINE_ERROR_SYSTEM = "https://fhir.nhs.uk/STU3/CodeSystem/Spine-ErrorOrWarningCode-1"
SEARCH_FILTER_ODS = ODS_ORGANISATION_SYSTEM
SEARCH_FILTER_ORG_TYPE = ORGANISATION_TYPE_SYSTEM

# GPConnect-OrganisationType-1 codes: what a requesting organisation is, sent as
# the slot search's organisation-type searchFilter (a slot restricted to a type
# is hidden from any other). A PCN requester uses the sandbox's "pcn" code. The
# booking's Organization carries no type (GP Connect allows it only when the slot
# search sent this filter); the provider knows the booker by its ODS code.
ORG_TYPE_GP_PRACTICE = "gp-practice"
ORG_TYPE_PCN = "pcn"

# Slot search start/end are sent as UK local times with their offset (GMT +00:00,
# BST +01:00), as a provider's clinicians see them, never converted to UTC.
UK_TIME_ZONE = "Europe/London"

# --- extensions ----------------------------------------------------------------
EXT_BOOKING_ORGANISATION = (
    "https://fhir.nhs.uk/STU3/StructureDefinition/Extension-GPConnect-BookingOrganisation-1"
)
EXT_CANCELLATION_REASON = "https://fhir.nhs.uk/STU3/StructureDefinition/Extension-GPConnect-AppointmentCancellationReason-1"
EXT_DELIVERY_CHANNEL = (
    "https://fhir.nhs.uk/STU3/StructureDefinition/Extension-GPConnect-DeliveryChannel-2"
)
EXT_PRACTITIONER_ROLE = (
    "https://fhir.nhs.uk/STU3/StructureDefinition/Extension-GPConnect-PractitionerRole-1"
)
EXT_REGISTRATION_DETAILS = (
    "https://fhir.nhs.uk/STU3/StructureDefinition/Extension-CareConnect-GPC-RegistrationDetails-1"
)
EXT_REGISTRATION_TYPE = "registrationType"
REGISTRATION_TYPE_SYSTEM = "https://fhir.nhs.uk/STU3/CodeSystem/CareConnect-RegistrationType-1"
REGISTRATION_TYPE_TEMPORARY = "T"
# The Patient elements $gpc.registerpatient accepts (Register a patient, 1.2.x):
# anything else (generalPractitioner, managingOrganization, deceased*, photo,
# contact, ...) is refused with 422 INVALID_RESOURCE.
REGISTER_PATIENT_ALLOWED_ELEMENTS = frozenset(
    {
        "resourceType",
        "meta",
        "extension",
        "identifier",
        "name",
        "gender",
        "birthDate",
        "telecom",
        "address",
    }
)

# --- profiles --------------------------------------------------------------------
PROFILE_APPOINTMENT = "https://fhir.nhs.uk/STU3/StructureDefinition/GPConnect-Appointment-1"
PROFILE_SLOT = "https://fhir.nhs.uk/STU3/StructureDefinition/GPConnect-Slot-1"
PROFILE_PATIENT = "https://fhir.nhs.uk/STU3/StructureDefinition/CareConnect-GPC-Patient-1"
PROFILE_ORGANIZATION = "https://fhir.nhs.uk/STU3/StructureDefinition/CareConnect-GPC-Organization-1"
PROFILE_OPERATION_OUTCOME = (
    "https://fhir.nhs.uk/STU3/StructureDefinition/GPConnect-OperationOutcome-1"
)

# --- interaction ids (Ssp-InteractionID) -------------------------------------------
INTERACTION_METADATA = "urn:nhs:names:services:gpconnect:fhir:rest:read:metadata-1"
INTERACTION_SEARCH_SLOTS = "urn:nhs:names:services:gpconnect:fhir:rest:search:slot-1"
INTERACTION_BOOK = "urn:nhs:names:services:gpconnect:fhir:rest:create:appointment-1"
INTERACTION_READ_APPOINTMENT = "urn:nhs:names:services:gpconnect:fhir:rest:read:appointment-1"
INTERACTION_CANCEL = "urn:nhs:names:services:gpconnect:fhir:rest:cancel:appointment-1"
INTERACTION_SEARCH_PATIENT = "urn:nhs:names:services:gpconnect:fhir:rest:search:patient-1"
INTERACTION_REGISTER_PATIENT = (
    "urn:nhs:names:services:gpconnect:fhir:operation:gpc.registerpatient-1"
)
INTERACTION_PATIENT_APPOINTMENTS = (
    "urn:nhs:names:services:gpconnect:fhir:rest:search:patient_appointments-1"
)
# GP Connect has no organisation-wide appointment listing (only one patient's,
# above): the poller finds
# appointments through the EMIS Partner API (docs/emis-partner-api-contract.md).

# --- Spine error codes ---------------------------------------------------------------
ERR_BAD_REQUEST = "BAD_REQUEST"
ERR_INVALID_PARAMETER = "INVALID_PARAMETER"
ERR_INVALID_RESOURCE = "INVALID_RESOURCE"
ERR_REFERENCE_NOT_FOUND = "REFERENCE_NOT_FOUND"  # 422: a reference to a resource it does not hold
ERR_DUPLICATE_REJECTED = "DUPLICATE_REJECTED"
ERR_FHIR_CONSTRAINT_VIOLATION = "FHIR_CONSTRAINT_VIOLATION"
ERR_INVALID_NHS_NUMBER = "INVALID_NHS_NUMBER"
ERR_PATIENT_NOT_FOUND = "PATIENT_NOT_FOUND"
ERR_NO_RECORD_FOUND = "NO_RECORD_FOUND"
ERR_ORGANISATION_NOT_FOUND = "ORGANISATION_NOT_FOUND"
ERR_ACCESS_DENIED = "ACCESS DENIED"
ERR_NOT_IMPLEMENTED = "NOT_IMPLEMENTED"
ERR_INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"

# --- JWT ----------------------------------------------------------------------------
JWT_LIFETIME_SECONDS = 300
REASON_FOR_REQUEST = "directcare"
SCOPE_ORGANISATION_READ = "organization/*.read"
SCOPE_ORGANISATION_WRITE = "organization/*.write"
SCOPE_PATIENT_READ = "patient/*.read"
SCOPE_PATIENT_WRITE = "patient/*.write"
