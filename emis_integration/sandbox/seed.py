"""The sandbox's seed hook: what the demo may do directly inside this EMIS
(emis_integration.demo_emis.DemoEmis), registered from EmisSandboxConfig.ready so
that the demo never imports the sandbox's models or services."""

from __future__ import annotations

from datetime import date

from django.db.models import F
from django.utils import timezone

from emis_integration.demo_emis import DemoEmisError

from .models import (
    Appointment,
    AppointmentStatus,
    Patient,
    RegistrationType,
    SandboxOrganisation,
    Slot,
    SlotStatus,
)
from .services import SimulationError, bookings_simulate


class SandboxDemoEmis:
    """The bundled sandbox as the demo's test EMIS."""

    def book_appointments(self, *, pcn_ods: str, count: int) -> None:
        pcn = SandboxOrganisation.objects.get(ods_code=pcn_ods)
        try:
            bookings_simulate(pcn=pcn, count=count)
        except SimulationError as exc:
            raise DemoEmisError(str(exc)) from exc

    def register_patient(
        self,
        *,
        organisation_ods: str,
        nhs_number: str,
        family: str,
        given: str,
        birth_date: date,
        registered_practice_ods: str,
    ) -> None:
        Patient.objects.get_or_create(
            organisation=SandboxOrganisation.objects.get(ods_code=organisation_ods),
            nhs_number=nhs_number,
            defaults={
                "family": family,
                "given": given,
                "birth_date": birth_date,
                "registration_type": RegistrationType.TEMPORARY,
                "registered_practice_ods": registered_practice_ods,
            },
        )

    def cancel_appointment(self, *, organisation_ods: str, patient_number: int | None) -> bool:
        appointment = Appointment.objects.filter(
            organisation__ods_code=organisation_ods,
            patient_record_id=patient_number,
            status=AppointmentStatus.BOOKED,
        ).first()
        if appointment is None:
            return False
        Appointment.objects.filter(pk=appointment.pk).update(
            status=AppointmentStatus.CANCELLED,
            last_updated=timezone.now(),
            version=F("version") + 1,
        )
        Slot.objects.filter(pk=appointment.slot_id).update(status=SlotStatus.FREE)
        return True
