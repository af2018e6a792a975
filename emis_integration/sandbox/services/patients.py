"""Patient records: registering through GP Connect ($gpc.registerpatient) and the
record every booked appointment is held by. EMIS keeps a patient record at the
organisation for everyone booked into its slots; for a patient not registered
there it is an appointment-only record (RegistrationType.APPOINTMENT_ONLY), which
GP Connect's Find a patient does not return."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db import IntegrityError, transaction

from ..errors import DuplicateRejected
from ..models import Appointment, Gender, Patient, RegistrationType, SandboxOrganisation
from ..types import PatientDemographics


def patient_record_for_booking(
    *,
    organisation: SandboxOrganisation,
    referenced: Patient | None,
    demographics: PatientDemographics,
) -> Patient:
    """The record that holds a new appointment: the Patient the booking
    referenced, else the organisation's record with that NHS number (of any
    registration type), else a new appointment-only record made from the
    booking's demographics. Call inside the booking's transaction."""
    if referenced is not None:
        return referenced
    existing = Patient.objects.filter(
        organisation=organisation, nhs_number=demographics.nhs_number
    ).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return Patient.objects.create(
                organisation=organisation,
                nhs_number=demographics.nhs_number,
                family=demographics.family,
                given=demographics.given,
                birth_date=demographics.birth_date,
                gender=demographics.gender,
                registration_type=RegistrationType.APPOINTMENT_ONLY,
                registered_practice_ods=demographics.registered_practice_ods,
            )
    except IntegrityError:
        # A concurrent booking or registration made the record first.
        return Patient.objects.get(organisation=organisation, nhs_number=demographics.nhs_number)


def _home_practice_ods(
    *, organisation: SandboxOrganisation, demographics: PatientDemographics
) -> str:
    """Where a patient registering temporarily is registered for good. The
    registration carries no generalPractitioner ($gpc.registerpatient does not
    allow it): as a provider learns it from PDS, the sandbox looks for the
    patient's regular registration at another of its organisations."""
    if demographics.registered_practice_ods:
        return demographics.registered_practice_ods
    home = (
        Patient.objects.filter(
            nhs_number=demographics.nhs_number, registration_type=RegistrationType.REGULAR
        )
        .exclude(organisation=organisation)
        .select_related("organisation")
        .first()
    )
    return home.organisation.ods_code if home is not None else ""


def patient_register(
    *, organisation: SandboxOrganisation, demographics: PatientDemographics
) -> Patient:
    """$gpc.registerpatient: always a temporary registration. An appointment-only
    record (the patient was booked here before) becomes that registration, with
    the demographics sent; any other record is "already registered"."""
    duplicate = DuplicateRejected(f"The patient is already registered at {organisation.ods_code}.")
    registered = {
        "family": demographics.family,
        "given": demographics.given,
        "birth_date": demographics.birth_date,
        "gender": demographics.gender,
        "registration_type": RegistrationType.TEMPORARY,
    }
    try:
        with transaction.atomic():
            existing = (
                Patient.objects.select_for_update()
                .filter(organisation=organisation, nhs_number=demographics.nhs_number)
                .first()
            )
            if existing is None:
                return Patient.objects.create(
                    organisation=organisation,
                    nhs_number=demographics.nhs_number,
                    registered_practice_ods=_home_practice_ods(
                        organisation=organisation, demographics=demographics
                    ),
                    **registered,
                )
            if existing.registration_type != RegistrationType.APPOINTMENT_ONLY:
                raise duplicate
            if not existing.registered_practice_ods:
                registered["registered_practice_ods"] = _home_practice_ods(
                    organisation=organisation, demographics=demographics
                )
            for name, value in registered.items():
                setattr(existing, name, value)
            existing.save(update_fields=list(registered))
            return existing
    except IntegrityError:
        raise duplicate from None


def _snapshot_record(
    patient_model: Any, *, organisation_id: int, nhs_number: str, snapshot: dict[str, Any]
) -> Any | None:
    """A new appointment-only record from an appointment's patient snapshot, or
    None when the snapshot lacks a usable birth date."""
    try:
        birth_date = date.fromisoformat(str(snapshot.get("birthDate", "")))
    except ValueError:
        return None
    gender = snapshot.get("gender")
    return patient_model.objects.create(
        organisation_id=organisation_id,
        nhs_number=nhs_number,
        family=str(snapshot.get("family") or "")[:100],
        given=str(snapshot.get("given") or "")[:100],
        birth_date=birth_date,
        gender=gender if gender in Gender.values else Gender.UNKNOWN,
        registration_type=RegistrationType.APPOINTMENT_ONLY,
        registered_practice_ods=str(snapshot.get("registeredPracticeOds") or "")[:10],
    )


def appointment_records_assign(
    *, appointment_model: Any = Appointment, patient_model: Any = Patient
) -> int:
    """Give every appointment without a `patient_record` the record booking would
    have given it (patient_record_for_booking): its referenced Patient, else the
    organisation's record with its NHS number, else a new appointment-only record
    from its snapshot. Returns how many it assigned. Migration 0003 runs it with
    its historical models; run again, it does nothing."""
    assigned = 0
    with transaction.atomic():
        pending = appointment_model.objects.filter(patient_record__isnull=True).order_by("pk")
        for pk, organisation_id, patient_id, nhs_number, snapshot in pending.values_list(
            "pk", "organisation_id", "patient_id", "patient_nhs_number", "patient_snapshot"
        ):
            record_id = patient_id
            if record_id is None:
                record_id = (
                    patient_model.objects.filter(
                        organisation_id=organisation_id, nhs_number=nhs_number
                    )
                    .values_list("pk", flat=True)
                    .first()
                )
            if record_id is None:
                record = _snapshot_record(
                    patient_model,
                    organisation_id=organisation_id,
                    nhs_number=nhs_number,
                    snapshot=snapshot if isinstance(snapshot, dict) else {},
                )
                record_id = record.pk if record is not None else None
            if record_id is not None:
                assigned += appointment_model.objects.filter(pk=pk).update(
                    patient_record_id=record_id
                )
    return assigned
