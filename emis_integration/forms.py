from django import forms

from .models import EmisConnection, OnboardingRequest


class EmisConnectionAdminForm(forms.ModelForm):
    """Endpoint details. The client secret is write-only: it is never shown,
    only replaced."""

    base_url = forms.URLField(
        label="FHIR base URL",
        max_length=500,
        required=False,
        assume_scheme="https",
        help_text="The GP Connect FHIR endpoint, e.g. https://emis.example.nhs.uk/gpconnect/fhir",
    )
    client_secret = forms.CharField(
        label="Client secret",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Signs the requests to EMIS. Stored encrypted and never shown again: leave "
        "blank to keep the current one.",
    )

    class Meta:
        model = EmisConnection
        fields = ["organisation", "base_url", "provider_ods_code", "asid_from", "asid_to"]


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
