from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models

from hippo_pcn.organisations.roles import OrganisationKind

asid_validator = RegexValidator(r"^[0-9]{12}$", "An ASID is 12 digits.")


class EmisSystem(models.TextChoices):
    EMIS_WEB = "emis_web", "EMIS Web (practice)"
    EMIS_COMMUNITY = "emis_community", "EMIS Community (PCN)"


SYSTEM_FOR_KIND = {
    OrganisationKind.PRACTICE: EmisSystem.EMIS_WEB,
    OrganisationKind.PCN: EmisSystem.EMIS_COMMUNITY,
}


class ConnectionStatus(models.TextChoices):
    REQUESTED = "requested", "Requested"
    IN_PROGRESS = "in_progress", "In progress"
    TESTING = "testing", "Testing"
    LIVE = "live", "Live"
    SUSPENDED = "suspended", "Suspended"
    FAILED = "failed", "Failed"


class EmisConnection(models.Model):
    """One organisation's EMIS system as hippo-pcn reaches it. Only `live`
    connections are used for slots, booking and polling."""

    organisation = models.ForeignKey(
        "organisations.Organisation", on_delete=models.PROTECT, related_name="emis_connections"
    )
    system = models.CharField(max_length=20, choices=EmisSystem.choices)
    base_url = models.URLField(
        "FHIR base URL",
        max_length=500,
        blank=True,
        help_text="The GP Connect FHIR endpoint, e.g. https://emis.example.nhs.uk/gpconnect/fhir",
    )
    provider_ods_code = models.CharField(
        "provider ODS code",
        max_length=10,
        blank=True,
        help_text="The ODS code EMIS knows this organisation by (usually its own).",
    )
    asid_from = models.CharField(
        "ASID (from: hippo-pcn)", max_length=12, blank=True, validators=[asid_validator]
    )
    asid_to = models.CharField(
        "ASID (to: the EMIS endpoint)", max_length=12, blank=True, validators=[asid_validator]
    )
    partner_base_url = models.URLField(
        "Partner API base URL",
        max_length=500,
        blank=True,
        help_text="The EMIS Partner API base, e.g. https://emis.example.nhs.uk/partner. "
        "Needed by a PCN's EMIS Community: hippo-pcn finds the appointments made there "
        "through it (GP Connect has no appointment list).",
    )
    sign_jwt = models.BooleanField(
        "sign the JWT",
        default=False,
        help_text="Off (the GP Connect specification): the bearer JWT is sent unsigned "
        "(alg none) and TLS mutual authentication over Spine vouches for hippo-pcn. On: "
        "sign it with HS256 using the client secret, for a provider reached directly that "
        "asks for a signed token (the bundled sandbox accepts both).",
    )
    # Fernet-encrypted JSON: client_secret (GP Connect), partner_application_id and
    # partner_token (the Partner API). Never shown again once stored.
    credentials_encrypted = models.TextField(blank=True, editable=False)

    status = models.CharField(
        max_length=20, choices=ConnectionStatus.choices, default=ConnectionStatus.REQUESTED
    )
    status_changed_at = models.DateTimeField(null=True, blank=True)
    status_changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    status_reason = models.TextField(blank=True)
    # When the endpoint details or credentials last changed: a test must be newer
    # than this before the connection can go live.
    config_changed_at = models.DateTimeField(null=True, blank=True)

    last_success_at = models.DateTimeField("last successful call", null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)

    last_test_at = models.DateTimeField(null=True, blank=True)
    last_test_ok = models.BooleanField(null=True, blank=True)
    last_test_latency_ms = models.PositiveIntegerField(null=True, blank=True)
    last_test_message = models.TextField(blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["organisation__name", "system"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "system"], name="emisconnection_one_per_org_system"
            ),
        ]
        indexes = [models.Index(fields=["system", "status"])]
        verbose_name = "EMIS connection"

    def __str__(self) -> str:
        return f"{self.organisation.name} · {self.get_system_display()}"

    @property
    def is_live(self) -> bool:
        return self.status == ConnectionStatus.LIVE

    @property
    def has_credentials(self) -> bool:
        return bool(self.credentials_encrypted)

    @property
    def uses_partner_api(self) -> bool:
        """A PCN's EMIS Community: its appointments are found through the Partner API."""
        return self.system == EmisSystem.EMIS_COMMUNITY

    def clean(self) -> None:
        if self.organisation_id is None or not self.system:
            return
        expected = SYSTEM_FOR_KIND[OrganisationKind(self.organisation.kind)]
        if self.system != expected:
            raise ValidationError(
                {
                    "system": (
                        f"A {self.organisation.get_kind_display()} connects through "
                        f"{expected.label}, not {EmisSystem(self.system).label}."
                    )
                }
            )


class OnboardingStatus(models.TextChoices):
    OPEN = "open", "Open"
    IN_PROGRESS = "in_progress", "In progress"
    DONE = "done", "Done: connection live"
    DECLINED = "declined", "Declined"


OPEN_ONBOARDING_STATUSES = (OnboardingStatus.OPEN, OnboardingStatus.IN_PROGRESS)


class OnboardingRequest(models.Model):
    """A request to connect a PCN's EMIS Community to hippo-pcn. At most one is
    open per PCN; later requesters are added to it."""

    pcn = models.ForeignKey(
        "organisations.Organisation",
        on_delete=models.PROTECT,
        related_name="onboarding_requests",
        limit_choices_to={"kind": OrganisationKind.PCN},
        verbose_name="PCN",
    )
    practice = models.ForeignKey(
        "organisations.Organisation",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="raised_onboarding_requests",
        limit_choices_to={"kind": OrganisationKind.PRACTICE},
        help_text="The practice that asked first (empty when support raised it).",
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    contact_name = models.CharField(max_length=150)
    contact_email = models.EmailField()
    contact_phone = models.CharField(max_length=30, blank=True)
    notes = models.TextField(blank=True)
    status = models.CharField(
        max_length=20, choices=OnboardingStatus.choices, default=OnboardingStatus.OPEN
    )
    status_note = models.TextField(blank=True)
    connection = models.ForeignKey(
        EmisConnection,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="onboarding_requests",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # When the requesters were told the PCN went live: set in the same transaction
    # as the sending, so a redelivered task never emails them twice.
    live_notified_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["pcn"],
                condition=models.Q(status__in=["open", "in_progress"]),
                name="onboardingrequest_one_open_per_pcn",
            ),
        ]

    def __str__(self) -> str:
        return f"Onboarding {self.pcn.name} ({self.get_status_display()})"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_ONBOARDING_STATUSES


class OnboardingRequester(models.Model):
    """Everyone who asked for the same PCN's onboarding, first one included."""

    request = models.ForeignKey(
        OnboardingRequest, on_delete=models.CASCADE, related_name="requesters"
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    practice = models.ForeignKey(
        "organisations.Organisation",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    contact_email = models.EmailField(blank=True)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["request", "user"], name="onboardingrequester_once_per_user"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} for {self.request}"
