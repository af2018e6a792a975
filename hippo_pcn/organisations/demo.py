"""The demo organisations and staff accounts `seed_demo` creates. Later
capabilities extend the demo from their own apps."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction

from hippo_pcn.audit.services import system_actor

from . import services
from .models import Membership, Organisation
from .roles import OrganisationKind, Role

DEMO_PASSWORD = "hippo-demo-2026"  # noqa: S105 - published demo password; seed_demo refuses outside DEMO_MODE
SEED_ACTOR = system_actor("seed_demo")

PCNS = [
    ("U00001", "Riverside PCN"),
    ("U00002", "Hillside PCN"),
    # Not connected to hippo-pcn at all (no EMIS connection): its practices see why
    # there are no PCN slots and can request onboarding.
    ("U00003", "Brookside PCN"),
]
# Phone numbers from Ofcom's range for drama (01632 960000-960999): never real.
PRACTICES = [
    ("A81001", "Riverside Surgery", "U00001", "01632 960001"),
    ("A81002", "Millbrook Medical Centre", "U00001", "01632 960002"),
    ("A81003", "Castle Street Practice", "U00001", "01632 960003"),
    ("B82001", "Hillside Health Centre", "U00002", "01632 960011"),
    ("B82002", "Orchard Lane Surgery", "U00002", "01632 960012"),
    ("C83001", "Fenwick Road Surgery", None, "01632 960021"),
    ("D84001", "Brookside Surgery", "U00003", "01632 960031"),
    ("D84002", "Weir Lane Practice", "U00003", "01632 960032"),
]
ROLE_SUFFIX = {
    Role.PRACTICE_ADMIN: "admin",
    Role.PRACTICE_STAFF: "staff",
    Role.PCN_ADMIN: "admin",
    Role.PCN_TRACER: "tracer",
}
ROLES_FOR_KIND = {
    OrganisationKind.PRACTICE: [Role.PRACTICE_ADMIN, Role.PRACTICE_STAFF],
    OrganisationKind.PCN: [Role.PCN_ADMIN, Role.PCN_TRACER],
}
FIRST_NAMES = {
    "admin": "Alex",
    "staff": "Sam",
    "tracer": "Taylor",
}


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    organisation: str
    role: str


def _ensure_organisation(
    ods: str, name: str, kind: str, pcn: Organisation | None, phone: str = ""
) -> Organisation:
    existing = Organisation.objects.filter(ods_code=ods).first()
    if existing is not None:
        if phone and not existing.phone:  # seeded before practices had phone numbers
            services.organisation_update(actor=SEED_ACTOR, organisation=existing, phone=phone)
        return existing
    return services.organisation_create(
        actor=SEED_ACTOR, kind=kind, ods_code=ods, name=name, pcn=pcn, phone=phone
    )


def _ensure_user(username: str, first_name: str, last_name: str, *, superuser: bool = False):
    User = get_user_model()
    user, _ = User.objects.get_or_create(
        username=username,
        defaults={
            "first_name": first_name,
            "last_name": last_name,
            "email": f"{username}@demo.hippo-pcn.invalid",
            "is_superuser": superuser,
            "is_staff": superuser,
        },
    )
    if not user.check_password(DEMO_PASSWORD):
        user.set_password(DEMO_PASSWORD)
        user.save(update_fields=["password"])
    return user


@transaction.atomic
def seed_organisations_and_staff() -> list[DemoLogin]:
    """Idempotent: a second run finds everything in place and changes nothing."""
    support_group = services.support_group_ensure()

    pcns = {ods: _ensure_organisation(ods, name, OrganisationKind.PCN, None) for ods, name in PCNS}
    orgs: list[Organisation] = list(pcns.values())
    for ods, name, pcn_ods, phone in PRACTICES:
        orgs.append(
            _ensure_organisation(
                ods, name, OrganisationKind.PRACTICE, pcns[pcn_ods] if pcn_ods else None, phone
            )
        )

    logins: list[DemoLogin] = []
    support = _ensure_user("support", "Jordan", "Support")
    support.groups.add(support_group)
    logins.append(DemoLogin("support", DEMO_PASSWORD, "All organisations", "Support team"))

    for org in sorted(orgs, key=lambda o: o.ods_code):
        for role in ROLES_FOR_KIND[OrganisationKind(org.kind)]:
            suffix = ROLE_SUFFIX[role]
            username = f"{org.ods_code.lower()}.{suffix}"
            user = _ensure_user(username, FIRST_NAMES[suffix], org.name.split()[0])
            if not Membership.objects.filter(user=user, organisation=org, role=role).exists():
                services.membership_create(actor=SEED_ACTOR, user=user, organisation=org, role=role)
            logins.append(DemoLogin(username, DEMO_PASSWORD, str(org), Role(role).label))
    return logins
