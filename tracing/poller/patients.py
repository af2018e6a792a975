"""Step 4 of a poll: the NHS number and demographics of each patient number,
from the cache when fresh enough, else from EMIS (GetPatientDemographics)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

from emis_integration.client import EmisError, EmisUnavailable, PatientNotFound
from emis_integration.models import EmisConnection

from . import fastpath, store


@dataclass
class Resolved:
    """Patients described (by patient number), those newly read from EMIS (for
    the cache), and what could not be read."""

    patients: dict[int, store.CachedPatient] = field(default_factory=dict)
    fresh: list[store.CachedPatient] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def resolve_patients(
    *,
    client: Any,
    connection: EmisConnection,
    numbers: Iterable[int],
    now: datetime,
    beat: Callable[[], None] | None = None,
) -> Resolved:
    """NHS numbers and demographics for patient numbers: from the cache when
    fresh enough, else GetPatientDemographics (at most
    TRACING_POLL_DEMOGRAPHICS_PER_POLL calls). A patient EMIS cannot describe now
    stays unresolved; their task says so and the next poll asks again."""
    numbers = sorted(set(numbers))
    resolved = Resolved()
    if not numbers:
        return resolved
    max_age = timedelta(days=settings.TRACING_POLL_DEMOGRAPHICS_MAX_AGE_DAYS)
    cached = store.cached_patients(connection=connection, numbers=numbers)
    to_ask = []
    for number in numbers:
        known = cached.get(number)
        if known is not None and known.nhs_number and now - known.fetched_at <= max_age:
            resolved.patients[number] = known
        else:
            to_ask.append(number)
    limit = settings.TRACING_POLL_DEMOGRAPHICS_PER_POLL
    if len(to_ask) > limit:
        resolved.warnings.append(
            f"{len(to_ask) - limit} patients' demographics left for the next poll "
            f"(at most {limit} lookups a poll)."
        )
        to_ask = to_ask[:limit]
    stop = {"unavailable": False}

    def ask(number: int) -> tuple[int, Any]:
        if stop["unavailable"]:
            return number, None
        try:
            return number, client.patient_demographics(patient_number=number)
        except EmisUnavailable as exc:
            stop["unavailable"] = True
            return number, exc
        except EmisError as exc:
            return number, exc

    unavailable = 0
    with fastpath.prefetched(
        ask, to_ask, workers=settings.TRACING_POLL_FETCH_CONCURRENCY, name="-patients"
    ) as answers:
        for number, answer in answers:
            if beat is not None:
                beat()
            unavailable += _take_answer(resolved, number, answer, now=now)
    if unavailable:
        resolved.warnings.append(
            f"{unavailable} patients' demographics could not be read (EMIS unavailable); "
            "asked again next poll."
        )
    return resolved


def _take_answer(resolved: Resolved, number: int, answer: Any, *, now: datetime) -> int:
    """One patient's answer into `resolved`; 1 if EMIS could not be asked."""
    if answer is None or isinstance(answer, EmisUnavailable):
        return 1
    if isinstance(answer, PatientNotFound):
        resolved.warnings.append(f"patient number {number}: EMIS has no such patient.")
        return 0
    if isinstance(answer, EmisError):
        resolved.warnings.append(f"patient number {number}: {answer}")
        return 0
    patient = store.CachedPatient(
        patient_number=number,
        nhs_number=answer.nhs_number,
        family_name=answer.family_name,
        given_names=answer.given_names,
        birth_date=answer.birth_date,
        gender=answer.gender,
        registered_practice_ods=answer.registered_practice_ods,
        registered_practice_name=answer.registered_practice_name,
        fetched_at=now,
    )
    resolved.fresh.append(patient)
    if patient.nhs_number:
        resolved.patients[number] = patient
    else:
        resolved.warnings.append(f"patient number {number}: EMIS gave no NHS number.")
    return 0
