"""The demo's way into the test EMIS it seeds.

Some demo data can only be made inside EMIS itself, as a PCN's staff would make it
there: appointments booked in EMIS (which only the poller can discover), a patient
already registered at the PCN, an appointment cancelled in EMIS. Only a test EMIS
lets anyone do that. The bundled sandbox registers its `DemoEmis` here from its
AppConfig.ready, and the demo seeders call `demo_emis()` without importing the
sandbox (DESIGN: nothing outside emis_integration/sandbox/ imports it). Where the
sandbox is not installed (production) there is no demo EMIS."""

from __future__ import annotations

from datetime import date
from typing import Protocol


class DemoEmisError(Exception):
    """The test EMIS could not do what the demo asked; nothing was changed."""


class DemoEmis(Protocol):
    """What the demo may do directly inside a test EMIS. Organisations are named
    by ODS code, as the demo's organisations and the test EMIS share them."""

    def book_appointments(self, *, pcn_ods: str, count: int) -> None:
        """Book `count` patients of the PCN's member practices into free future
        slots at the PCN, as its staff would inside EMIS. Raises DemoEmisError."""

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
        """Make the patient (temporarily) registered at the organisation, unless a
        record with that NHS number is there already."""

    def cancel_appointment(self, *, organisation_ods: str, patient_number: int | None) -> bool:
        """Cancel, inside EMIS, one booked appointment of the patient with this
        record number at the organisation, freeing its slot. False when the
        patient has none."""


_demo_emis: DemoEmis | None = None


def register_demo_emis(emis: DemoEmis) -> None:
    """Called once by a test EMIS (the bundled sandbox) when its app is ready."""
    global _demo_emis
    _demo_emis = emis


def demo_emis() -> DemoEmis | None:
    """The registered test EMIS, or None when none is installed."""
    return _demo_emis
