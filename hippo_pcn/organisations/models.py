import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Upper

from .roles import ROLES_BY_KIND, OrganisationKind, Role

ODS_PATTERNS: dict[str, re.Pattern[str]] = {
    OrganisationKind.PRACTICE: re.compile(r"^[A-Z][0-9]{5}$"),
    OrganisationKind.PCN: re.compile(r"^U[0-9]{5}$"),
}
ODS_EXAMPLES: dict[str, str] = {
    OrganisationKind.PRACTICE: "one letter and five digits, e.g. A81001",
    OrganisationKind.PCN: "U and five digits, e.g. U12345",
}


class Organisation(models.Model):
    """A GP practice or a Primary Care Network, identified by its ODS code."""

    kind = models.CharField(max_length=16, choices=OrganisationKind.choices)
    ods_code = models.CharField(
        "ODS code",
        max_length=6,
        unique=True,
        help_text="Practice: one letter and five digits (A81001). PCN: U and five digits (U12345).",
    )
    name = models.CharField(max_length=200)
    phone = models.CharField(
        "phone number",
        max_length=30,
        blank=True,
        help_text="The practice's phone number for patients and other organisations. "
        "Required for a practice to book: GP Connect sends it with every booking.",
    )
    pcn = models.ForeignKey(
        "self",
        verbose_name="PCN",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="member_practices",
        limit_choices_to={"kind": OrganisationKind.PCN},
        help_text="The Primary Care Network this practice belongs to (at most one).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                name="organisation_kind_valid",
                condition=models.Q(kind__in=[k.value for k in OrganisationKind]),
            ),
            models.CheckConstraint(
                name="organisation_only_practices_have_pcn",
                condition=models.Q(pcn__isnull=True) | models.Q(kind=OrganisationKind.PRACTICE),
            ),
            models.CheckConstraint(
                name="organisation_ods_code_upper",
                condition=models.Q(ods_code=Upper("ods_code")),
            ),
        ]
        indexes = [models.Index(fields=["kind", "name"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.ods_code})"

    @property
    def is_pcn(self) -> bool:
        return self.kind == OrganisationKind.PCN

    @property
    def is_practice(self) -> bool:
        return self.kind == OrganisationKind.PRACTICE

    def clean(self) -> None:
        errors: dict[str, str] = {}
        self.ods_code = (self.ods_code or "").strip().upper()
        pattern = ODS_PATTERNS.get(self.kind)
        if pattern and not pattern.match(self.ods_code):
            kind_label = OrganisationKind(self.kind).label
            errors["ods_code"] = (
                f"“{self.ods_code}” is not a valid ODS code for a {kind_label}: "
                f"use {ODS_EXAMPLES[self.kind]}."
            )
        previous = (
            Organisation.objects.filter(pk=self.pk).values("kind", "pcn_id").first()
            if self.pk
            else None
        )
        if previous and previous["kind"] != self.kind:
            errors["kind"] = (
                "An organisation's kind cannot be changed after it is created. "
                "Create a new organisation instead."
            )
        if (
            previous
            and previous["pcn_id"] is not None
            and self.pcn_id is not None
            and previous["pcn_id"] != self.pcn_id
        ):
            current = Organisation.objects.get(pk=previous["pcn_id"])
            errors["pcn"] = (
                f"This practice already belongs to {current}. A practice can be in only one PCN: "
                "remove it from that PCN first (clear the PCN and save), then add it to the new one."
            )
        if self.pcn_id is not None and "pcn" not in errors:
            if self.kind != OrganisationKind.PRACTICE:
                errors["pcn"] = "Only a GP practice can belong to a PCN."
            elif self.pcn is not None and self.pcn.kind != OrganisationKind.PCN:
                errors["pcn"] = f"{self.pcn} is not a PCN."
        if errors:
            raise ValidationError(errors)


class Membership(models.Model):
    """A user's role in one organisation. A user may hold several."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="memberships"
    )
    role = models.CharField(max_length=32, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["organisation__name", "user__username", "role"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "organisation", "role"], name="membership_unique_role"
            ),
            models.CheckConstraint(
                name="membership_role_valid",
                condition=models.Q(role__in=[r.value for r in Role]),
            ),
        ]
        indexes = [models.Index(fields=["organisation", "role"])]

    def __str__(self) -> str:
        return f"{self.user} · {self.get_role_display()} · {self.organisation}"

    def clean(self) -> None:
        if self.organisation_id is None or not self.role:
            return
        allowed = ROLES_BY_KIND[self.organisation.kind]
        if self.role not in allowed:
            kind_label = OrganisationKind(self.organisation.kind).label
            allowed_labels = ", ".join(sorted(Role(r).label for r in allowed))
            raise ValidationError(
                {
                    "role": (
                        f"{Role(self.role).label} is not a role in a {kind_label}. "
                        f"Choose one of: {allowed_labels}."
                    )
                }
            )
