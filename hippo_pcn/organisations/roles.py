"""Organisation kinds and the roles a user can hold in an organisation."""

from django.db import models


class OrganisationKind(models.TextChoices):
    PRACTICE = "practice", "GP practice"
    PCN = "pcn", "Primary Care Network"


class Role(models.TextChoices):
    PRACTICE_ADMIN = "practice_admin", "Practice admin"
    PRACTICE_STAFF = "practice_staff", "Practice staff"
    PCN_ADMIN = "pcn_admin", "PCN admin"
    PCN_TRACER = "pcn_tracer", "PCN tracer"


ROLES_BY_KIND: dict[str, frozenset[str]] = {
    OrganisationKind.PRACTICE: frozenset({Role.PRACTICE_ADMIN, Role.PRACTICE_STAFF}),
    OrganisationKind.PCN: frozenset({Role.PCN_ADMIN, Role.PCN_TRACER}),
}

# Roles that may manage the memberships of their own organisation.
ADMIN_ROLES = frozenset({Role.PRACTICE_ADMIN, Role.PCN_ADMIN})
PCN_ROLES = ROLES_BY_KIND[OrganisationKind.PCN]
PRACTICE_ROLES = ROLES_BY_KIND[OrganisationKind.PRACTICE]
