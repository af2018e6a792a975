"""The bundled EMIS sandbox's own tables: a fake EMIS Web (practices) and EMIS
Community (PCNs) holding sites, practitioners, schedules, slots, patients and
appointments. Nothing in hippo-pcn reads these tables; it reaches the sandbox only
over HTTP, exactly like a real EMIS."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

from emis_integration import gpconnect as gpc

asid_validator = RegexValidator(r"^[0-9]{12}$", "An ASID is 12 digits.")
nhs_number_format = RegexValidator(r"^[0-9]{10}$", "An NHS number is 10 digits.")

MAX_TIMEOUT_SECONDS = 30
MAX_LATENCY_MS = 30_000

# GPConnect-OrganisationType-1 codes the sandbox's slot restrictions use.
ORG_TYPE_GP_PRACTICE = gpc.ORG_TYPE_GP_PRACTICE
ORG_TYPE_PCN = gpc.ORG_TYPE_PCN


class OrganisationKind(models.TextChoices):
    PRACTICE = "practice", "GP practice (EMIS Web)"
    PCN = "pcn", "Primary Care Network (EMIS Community)"


ORG_TYPE_FOR_KIND = {
    OrganisationKind.PRACTICE: ORG_TYPE_GP_PRACTICE,
    OrganisationKind.PCN: ORG_TYPE_PCN,
}


class Gender(models.TextChoices):
    MALE = "male", "Male"
    FEMALE = "female", "Female"
    OTHER = "other", "Other"
    UNKNOWN = "unknown", "Unknown"


class DeliveryChannel(models.TextChoices):
    IN_PERSON = "In-person", "In person"
    TELEPHONE = "Telephone", "Telephone"
    VIDEO = "Video", "Video"


class SlotStatus(models.TextChoices):
    FREE = "free", "Free"
    BUSY = "busy", "Busy"


class RegistrationType(models.TextChoices):
    REGULAR = "R", "Regular"
    TEMPORARY = "T", "Temporary"
    APPOINTMENT_ONLY = "A", "Not registered: record made for an appointment"


class AppointmentStatus(models.TextChoices):
    BOOKED = "booked", "Booked"
    CANCELLED = "cancelled", "Cancelled"


class CommitThenFailMode(models.TextChoices):
    GATEWAY_TIMEOUT = "504", "Answer 504 GATEWAY TIMEOUT"
    TIMEOUT = "timeout", "Sleep timeout seconds, then answer (the client's read timeout fires)"


class SandboxOrganisation(models.Model):
    """One EMIS organisation (a practice's EMIS Web or a PCN's EMIS Community),
    with the fault knobs support uses to rehearse outages."""

    ods_code = models.CharField("ODS code", max_length=10, unique=True)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=OrganisationKind.choices)
    pcn = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="member_practices",
        limit_choices_to={"kind": OrganisationKind.PCN},
        verbose_name="PCN",
        help_text="For a practice: the PCN it belongs to, if any.",
    )
    asid = models.CharField("ASID", max_length=12, validators=[asid_validator])
    client_secret = models.CharField(
        max_length=200,
        help_text="Shared secret that signs the JWT (HS256). Plain text: this is a fake EMIS.",
    )
    phone = models.CharField(max_length=30, blank=True)

    latency_ms = models.PositiveIntegerField(
        "added latency (ms)",
        default=0,
        validators=[MaxValueValidator(MAX_LATENCY_MS)],
        help_text="Every request waits this long before it is answered.",
    )
    error_rate = models.FloatField(
        default=0.0,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Probability (0 to 1) that a request fails with 500 INTERNAL_SERVER_ERROR.",
    )
    force_timeout = models.BooleanField(
        default=False, help_text="Sleep `timeout seconds` before answering every request."
    )
    timeout_seconds = models.PositiveSmallIntegerField(
        default=15,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_TIMEOUT_SECONDS)],
        help_text=f"How long a forced timeout sleeps (at most {MAX_TIMEOUT_SECONDS} s).",
    )
    reject_auth = models.BooleanField(
        default=False, help_text="Answer every request with 401 ACCESS DENIED."
    )
    commit_then_fail = models.BooleanField(
        default=False,
        help_text="Book the appointment on POST /Appointment, then answer 504 GATEWAY "
        "TIMEOUT: the booking is made but the answer is lost.",
    )
    commit_then_fail_mode = models.CharField(
        "commit then fail: how the answer is lost",
        max_length=10,
        choices=CommitThenFailMode.choices,
        default=CommitThenFailMode.GATEWAY_TIMEOUT,
        help_text="504: answer 504 GATEWAY TIMEOUT after booking. timeout: after booking, "
        "sleep `timeout seconds` before answering, so the client's read timeout fires "
        "and the connection is dropped.",
    )
    partner_application_id = models.CharField(
        "Partner API application id",
        max_length=100,
        blank=True,
        help_text="The applicationId header (the supplier's party key) the Partner API "
        "accepts. Blank: the Partner API is off for this organisation (401).",
    )
    partner_token = models.CharField(
        "Partner API bearer token",
        max_length=200,
        blank=True,
        help_text="The bearer token the Partner API accepts. Plain text: this is a fake EMIS.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["ods_code"]
        verbose_name = "sandbox organisation"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(error_rate__gte=0.0, error_rate__lte=1.0),
                name="sandboxorg_error_rate_0_1",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    timeout_seconds__gte=1, timeout_seconds__lte=MAX_TIMEOUT_SECONDS
                ),
                name="sandboxorg_timeout_bounded",
            ),
            models.CheckConstraint(
                condition=models.Q(latency_ms__lte=MAX_LATENCY_MS),
                name="sandboxorg_latency_bounded",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.ods_code})"

    @property
    def org_type(self) -> str:
        return ORG_TYPE_FOR_KIND[OrganisationKind(self.kind)]

    @property
    def partner_api_enabled(self) -> bool:
        return bool(self.partner_application_id and self.partner_token)


class Site(models.Model):
    """A location (surgery, hub) where appointments take place."""

    organisation = models.ForeignKey(
        SandboxOrganisation, on_delete=models.CASCADE, related_name="sites"
    )
    name = models.CharField(max_length=200)
    address_line1 = models.CharField(max_length=200)
    address_line2 = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100)
    district = models.CharField(max_length=100, blank=True)
    postcode = models.CharField(max_length=10)
    phone = models.CharField(max_length=30, blank=True)

    class Meta:
        ordering = ["organisation", "name"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "name"], name="sandboxsite_unique_name")
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def address_lines(self) -> list[str]:
        return [line for line in (self.address_line1, self.address_line2) if line]


class Practitioner(models.Model):
    organisation = models.ForeignKey(
        SandboxOrganisation, on_delete=models.CASCADE, related_name="practitioners"
    )
    family = models.CharField(max_length=100)
    given = models.CharField(max_length=100)
    prefix = models.CharField(max_length=20, blank=True)
    gender = models.CharField(max_length=10, choices=Gender.choices, default=Gender.UNKNOWN)
    role = models.CharField(max_length=100, blank=True, help_text="e.g. Practice nurse")

    class Meta:
        ordering = ["organisation", "family", "given"]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        """EMIS style: "Dr Asha PATEL"."""
        return " ".join(part for part in (self.prefix, self.given, self.family.upper()) if part)


class Schedule(models.Model):
    organisation = models.ForeignKey(
        SandboxOrganisation, on_delete=models.CASCADE, related_name="schedules"
    )
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="schedules")
    practitioner = models.ForeignKey(
        Practitioner,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="schedules",
    )
    service_type = models.CharField(max_length=100, help_text='e.g. "Flu vaccination"')
    service_category = models.CharField(max_length=100, blank=True)
    delivery_channel = models.CharField(
        max_length=10, choices=DeliveryChannel.choices, default=DeliveryChannel.IN_PERSON
    )

    class Meta:
        ordering = ["organisation", "service_type", "id"]

    def __str__(self) -> str:
        return f"{self.service_type} · {self.site.name}"


class AppointmentSession(models.Model):
    """One schedule's day of slots, as EMIS groups them: a site, a holder (the
    clinician) and one slot type (the schedule). The Partner API lists these."""

    organisation = models.ForeignKey(
        SandboxOrganisation, on_delete=models.CASCADE, related_name="sessions"
    )
    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="sessions")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="sessions")
    holder = models.ForeignKey(
        Practitioner,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="sessions",
    )
    name = models.CharField(max_length=100)
    date = models.DateField(help_text="UK local date.")
    start_time = models.TimeField(help_text="UK local time of its first slot.")
    end_time = models.TimeField(help_text="UK local time its last slot ends.")
    slot_minutes = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["organisation", "date", "start_time", "id"]
        verbose_name = "appointment session"
        indexes = [
            models.Index(
                fields=["organisation", "date", "start_time"], name="sandboxsession_org_date"
            )
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["schedule", "date"], name="sandboxsession_one_per_schedule_day"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.date:%d/%m/%Y} {self.start_time:%H:%M}"


class Slot(models.Model):
    """A bookable time. Booking restrictions: `allowed_ods` (ODS codes) and
    `allowed_org_types` (GPConnect-OrganisationType-1 codes); both empty means
    anyone may book, otherwise a match on either list allows it."""

    organisation = models.ForeignKey(
        SandboxOrganisation, on_delete=models.CASCADE, related_name="slots"
    )
    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="slots")
    session = models.ForeignKey(
        AppointmentSession,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="slots",
        db_index=False,  # sandboxslot_session_start covers it
        help_text="The schedule's session that day (services.slots_create sets it).",
    )
    start = models.DateTimeField()
    end = models.DateTimeField()
    status = models.CharField(max_length=10, choices=SlotStatus.choices, default=SlotStatus.FREE)
    allowed_ods = models.JSONField(
        "bookable by ODS codes", default=list, blank=True, help_text="Empty: no ODS restriction."
    )
    allowed_org_types = models.JSONField(
        "bookable by organisation types",
        default=list,
        blank=True,
        help_text='e.g. ["gp-practice"]. Empty: no type restriction.',
    )

    class Meta:
        ordering = ["start", "id"]
        indexes = [
            models.Index(fields=["organisation", "start"], name="sandboxslot_org_start"),
            models.Index(fields=["session", "start"], name="sandboxslot_session_start"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end__gt=models.F("start")), name="sandboxslot_end_after_start"
            )
        ]

    def __str__(self) -> str:
        return f"Slot {self.pk} {self.start:%Y-%m-%d %H:%M}"

    @property
    def is_restricted(self) -> bool:
        return bool(self.allowed_ods or self.allowed_org_types)

    def allows(self, *, ods_code: str, org_type: str) -> bool:
        if not self.is_restricted:
            return True
        if ods_code and ods_code.upper() in {code.upper() for code in self.allowed_ods}:
            return True
        return bool(org_type) and org_type in self.allowed_org_types


class BookingCap(models.Model):
    """At most `max_active_bookings` booked future appointments at `organisation`
    may be held by the booking organisation `booking_org_ods`."""

    organisation = models.ForeignKey(
        SandboxOrganisation, on_delete=models.CASCADE, related_name="booking_caps"
    )
    booking_org_ods = models.CharField("booking organisation ODS", max_length=10)
    max_active_bookings = models.PositiveIntegerField("max active future bookings")

    class Meta:
        ordering = ["organisation", "booking_org_ods"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "booking_org_ods"], name="sandboxcap_one_per_booking_org"
            )
        ]

    def __str__(self) -> str:
        return f"{self.booking_org_ods} at {self.organisation.ods_code}: {self.max_active_bookings}"


class Patient(models.Model):
    """A patient record at one sandbox organisation: a regular registration (their
    home practice), a temporary one (e.g. at a PCN, through $gpc.registerpatient),
    or an appointment-only record that booking made for a patient not registered
    there (EMIS holds a record for everyone booked into its slots)."""

    organisation = models.ForeignKey(
        SandboxOrganisation, on_delete=models.CASCADE, related_name="patients"
    )
    nhs_number = models.CharField("NHS number", max_length=10, validators=[nhs_number_format])
    family = models.CharField(max_length=100)
    given = models.CharField(max_length=100, blank=True)
    birth_date = models.DateField()
    gender = models.CharField(max_length=10, choices=Gender.choices, default=Gender.UNKNOWN)
    registration_type = models.CharField(
        max_length=1, choices=RegistrationType.choices, default=RegistrationType.REGULAR
    )
    registered_practice_ods = models.CharField(
        "registered practice ODS",
        max_length=10,
        blank=True,
        help_text="The patient's home practice (for a practice's own patients: that practice).",
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["organisation", "family", "given"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "nhs_number"], name="sandboxpatient_one_per_org"
            )
        ]

    def __str__(self) -> str:
        return f"Patient {self.pk} at {self.organisation_id}"


class Appointment(models.Model):
    organisation = models.ForeignKey(
        SandboxOrganisation, on_delete=models.CASCADE, related_name="appointments"
    )
    slot = models.ForeignKey(Slot, on_delete=models.PROTECT, related_name="appointments")
    status = models.CharField(
        max_length=10, choices=AppointmentStatus.choices, default=AppointmentStatus.BOOKED
    )
    version = models.PositiveIntegerField(default=1)
    last_updated = models.DateTimeField()
    created = models.DateTimeField()
    start = models.DateTimeField()
    end = models.DateTimeField()

    booking_org_ods = models.CharField("booking organisation ODS", max_length=10)
    booking_org_name = models.CharField("booking organisation", max_length=200)
    booking_org_phone = models.CharField(max_length=30, blank=True)
    booking_org_type = models.CharField(max_length=50, blank=True)

    patient_nhs_number = models.CharField("patient NHS number", max_length=10)
    patient_snapshot = models.JSONField(
        default=dict,
        help_text="Demographics as booked: family, given, birthDate, gender, "
        "registeredPracticeOds, registeredPracticeName.",
    )
    patient = models.ForeignKey(
        Patient,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="appointments",
        help_text="Set when the booking referenced the patient's record at this organisation.",
    )
    patient_record = models.ForeignKey(
        Patient,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="record_appointments",
        help_text="The patient's record at this organisation that holds the appointment: "
        "their registration, or an appointment-only record made at booking.",
    )
    description = models.CharField(max_length=100, blank=True)
    comment = models.CharField(max_length=500, blank=True)
    cancellation_reason = models.CharField(max_length=500, blank=True)
    location_display = models.CharField(max_length=200, blank=True)
    practitioner_display = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["last_updated", "id"]
        indexes = [
            models.Index(
                fields=["organisation", "last_updated", "id"], name="sandboxappt_org_updated"
            ),
            models.Index(
                fields=["organisation", "booking_org_ods", "status", "start"],
                name="sandboxappt_org_booker",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["slot"],
                condition=models.Q(status="booked"),
                name="sandboxappt_one_booked_per_slot",
            ),
        ]

    def __str__(self) -> str:
        return f"Appointment {self.pk} ({self.status})"

    @property
    def patient_reference(self) -> str:
        """Patient/{id} when booked against the patient's record here, else the
        contained Patient."""
        return f"Patient/{self.patient_id}" if self.patient_id else "#patient"

    @property
    def location_reference(self) -> str:
        return f"Location/{self.slot.schedule.site_id}"

    @property
    def practitioner_reference(self) -> str:
        practitioner_id = self.slot.schedule.practitioner_id
        return f"Practitioner/{practitioner_id}" if practitioner_id else ""

    def participant_references(self) -> frozenset[str]:
        references = {self.patient_reference, self.location_reference}
        if self.practitioner_reference:
            references.add(self.practitioner_reference)
        return frozenset(references)
