"""Reads for tracing."""

from __future__ import annotations

from hippo_pcn.organisations.models import Organisation
from hippo_pcn.organisations.roles import OrganisationKind

from .models import TracingPolicy
from .planning import PolicyView


def policy_for_pcn(*, pcn: Organisation) -> TracingPolicy:
    """The PCN's policy, or the recommended default (PCN-led daily batch at 08:00)
    when the PCN has not chosen one yet."""
    policy = TracingPolicy.objects.filter(pcn=pcn).first()
    return policy if policy is not None else TracingPolicy(pcn=pcn)


def policy_view(policy: TracingPolicy) -> PolicyView:
    return PolicyView(
        mode=policy.mode,
        batch_time=policy.batch_time,
        batch_weekday=policy.batch_weekday,
        practice_working_hours=policy.practice_working_hours,
    )


def task_owner(
    *,
    policy: TracingPolicy,
    pcn: Organisation,
    booking_organisation: Organisation | None,
    registered_practice: Organisation | None,
) -> Organisation:
    """Practice-led: the booking practice (or, for bookings made by the PCN
    itself, the patient's registered practice) when it is a member of the PCN.
    Otherwise, and in every other mode, the PCN."""
    if policy.mode == "practice_led":
        for candidate in (booking_organisation, registered_practice):
            if (
                candidate is not None
                and candidate.kind == OrganisationKind.PRACTICE
                and candidate.pcn_id == pcn.pk
            ):
                return candidate
    return pcn
