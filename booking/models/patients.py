"""A practice's patients, and the CSV imports that add them."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from hippo_pcn.organisations.roles import OrganisationKind

from ..patient_data import (
    E164_UK_MOBILE,
    NAME_MAX_LENGTH,
    format_nhs_number,
    format_uk_mobile,
    mask_uk_mobile,
    validate_nhs_number,
    validate_uk_mobile,
)

# --- Patients -------------------------------------------------------------------------


class Patient(models.Model):
    """A patient of one practice. The same person registered at two practices
    (after moving) is two rows: each practice owns its own list."""

    practice = models.ForeignKey(
        "organisations.Organisation",
        on_delete=models.PROTECT,
        related_name="patients",
        limit_choices_to={"kind": OrganisationKind.PRACTICE},
    )
    nhs_number = models.CharField(
        "NHS number",
        max_length=10,
        validators=[validate_nhs_number],
        help_text="10 digits, stored without spaces.",
    )
    first_name = models.CharField(max_length=NAME_MAX_LENGTH)
    last_name = models.CharField(max_length=NAME_MAX_LENGTH)
    date_of_birth = models.DateField()
    mobile = models.CharField(
        "mobile number",
        max_length=13,
        blank=True,
        validators=[validate_uk_mobile],
        help_text="UK mobile in international form, e.g. +447700900123.",
    )
    email = models.EmailField("email address", blank=True)
    opted_out_of_messages = models.BooleanField(
        default=False, help_text="The patient asked not to be sent invitations by text or email."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["last_name", "first_name", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["practice", "nhs_number"], name="patient_unique_nhs_number_per_practice"
            ),
            models.CheckConstraint(
                name="patient_nhs_number_ten_digits",
                condition=models.Q(nhs_number__regex=r"^[0-9]{10}$"),
            ),
            models.CheckConstraint(
                name="patient_mobile_e164_uk",
                condition=models.Q(mobile="") | models.Q(mobile__regex=E164_UK_MOBILE.pattern),
            ),
        ]
        indexes = [
            models.Index(
                fields=["practice", "last_name", "first_name"], name="patient_practice_name_idx"
            ),
        ]

    def __str__(self) -> str:
        # Shown in the admin and as the audit log's object label: the record's id,
        # never the patient's name or NHS number.
        return f"Patient {self.pk}"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def nhs_number_display(self) -> str:
        """The NHS number as staff read it: 943 476 5919."""
        return format_nhs_number(self.nhs_number)

    @property
    def mobile_display(self) -> str:
        return format_uk_mobile(self.mobile)

    @property
    def mobile_masked(self) -> str:
        """07••• •••123: only the last three digits shown."""
        return mask_uk_mobile(self.mobile)

    def clean(self) -> None:
        if self.practice_id is not None and self.practice.kind != OrganisationKind.PRACTICE:
            raise ValidationError({"practice": "Patients belong to a GP practice, not a PCN."})


# --- Patient imports ------------------------------------------------------------------


class PatientImportStatus(models.TextChoices):
    PREVIEWED = "previewed", "Waiting for confirmation"
    IMPORTED = "imported", "Imported"
    DISCARDED = "discarded", "Cancelled"


class PatientImport(models.Model):
    """One uploaded CSV file of patients. The upload is parsed and checked at once
    and kept here (`rows`, `errors`) until the user confirms or cancels: patients
    are written only on confirmation, from these rows, never from anything the
    browser sends back. The rows are emptied once imported or cancelled."""

    practice = models.ForeignKey(
        "organisations.Organisation",
        on_delete=models.PROTECT,
        related_name="patient_imports",
        limit_choices_to={"kind": OrganisationKind.PRACTICE},
    )
    status = models.CharField(
        max_length=16, choices=PatientImportStatus.choices, default=PatientImportStatus.PREVIEWED
    )
    file_name = models.CharField(max_length=255)
    file_size = models.PositiveBigIntegerField(help_text="Bytes.")
    encoding = models.CharField(
        max_length=40, help_text="How the file's text was read, e.g. UTF-8 or Windows-1252."
    )
    optional_columns = models.JSONField(
        default=list,
        blank=True,
        help_text="Which of the optional columns (mobile, email) the file has. A column the "
        "file does not have is left as it is on existing patients.",
    )
    ignored_columns = models.JSONField(
        default=list, blank=True, help_text="Column headings in the file that were not used."
    )

    row_count = models.PositiveIntegerField("rows read", default=0)
    valid_count = models.PositiveIntegerField("valid rows", default=0)
    new_count = models.PositiveIntegerField("new patients", default=0)
    update_count = models.PositiveIntegerField("updated patients", default=0)
    unchanged_count = models.PositiveIntegerField("unchanged patients", default=0)
    error_count = models.PositiveIntegerField("rows with errors", default=0)

    rows = models.JSONField(
        default=list,
        blank=True,
        help_text="The valid rows, cleaned, waiting for confirmation. Emptied once imported "
        "or cancelled.",
    )
    errors = models.JSONField(
        default=list,
        blank=True,
        help_text="Rows with errors (the first ones, if there are very many) and why.",
    )

    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField("uploaded at", auto_now_add=True)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    imported_at = models.DateTimeField(null=True, blank=True)
    discarded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="cancelled by",
    )
    discarded_at = models.DateTimeField("cancelled at", null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                name="patientimport_status_valid",
                condition=models.Q(status__in=[s.value for s in PatientImportStatus]),
            ),
        ]
        indexes = [
            models.Index(fields=["practice", "-created_at"], name="patientimport_practice_idx"),
        ]

    def __str__(self) -> str:
        return f"Patient import {self.pk}"

    @property
    def is_previewed(self) -> bool:
        return self.status == PatientImportStatus.PREVIEWED

    @property
    def is_imported(self) -> bool:
        return self.status == PatientImportStatus.IMPORTED

    @property
    def is_discarded(self) -> bool:
        return self.status == PatientImportStatus.DISCARDED
