from django import forms

from .models import EmisConnection, OnboardingRequest


def _write_only(label: str, help_text: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=help_text,
    )


class EmisConnectionAdminForm(forms.ModelForm):
    """Endpoint details for GP Connect (booking) and, for a PCN's EMIS Community,
    the EMIS Partner API (finding appointments). Secrets are write-only: never
    shown, only replaced."""

    base_url = forms.URLField(
        label="FHIR base URL",
        max_length=500,
        required=False,
        assume_scheme="https",
        help_text="The GP Connect FHIR endpoint, e.g. https://emis.example.nhs.uk/gpconnect/fhir",
        widget=forms.URLInput(attrs={"class": "hippo-url"}),
    )
    client_secret = _write_only(
        "Client secret",
        "Signs the GP Connect JWT when 'sign the JWT' is on. Stored encrypted and never "
        "shown again: leave blank to keep the current one.",
    )
    partner_base_url = forms.URLField(
        label="Partner API base URL",
        max_length=500,
        required=False,
        assume_scheme="https",
        help_text="The EMIS Partner API base, e.g. https://emis.example.nhs.uk/partner. A PCN's "
        "EMIS Community needs it (with the application id and token) to go live: hippo-pcn "
        "finds the appointments made there through it.",
        widget=forms.URLInput(attrs={"class": "hippo-url"}),
    )
    partner_application_id = _write_only(
        "Partner API application id",
        "The applicationId (the supplier's “party key”) EMIS's assurance lead gave hippo-pcn. "
        "Stored encrypted and never shown again: leave blank to keep the current one.",
    )
    partner_token = _write_only(
        "Partner API token",
        "The bearer token for this organisation's Partner API. Stored encrypted and never "
        "shown again: leave blank to keep the current one.",
    )

    class Meta:
        model = EmisConnection
        fields = [
            "organisation",
            "base_url",
            "provider_ods_code",
            "asid_from",
            "asid_to",
            "sign_jwt",
            "partner_base_url",
        ]


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label="Reason",
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        max_length=2000,
        help_text="Kept in the audit log and shown to the practices affected.",
    )


class OnboardingRequestForm(forms.Form):
    contact_name = forms.CharField(label="Your name", max_length=150)
    contact_email = forms.EmailField(label="Email address support can reply to")
    contact_phone = forms.CharField(label="Phone number (optional)", max_length=30, required=False)
    notes = forms.CharField(
        label="Anything support should know (optional)",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="For example who manages your PCN's EMIS Community, or when you need PCN slots.",
    )


class SupportOnboardingRequestForm(forms.ModelForm):
    """Support raising a request on a PCN's behalf (e.g. after a phone call)."""

    class Meta:
        model = OnboardingRequest
        fields = ("pcn", "contact_name", "contact_email", "contact_phone", "notes")
