"""Forms and upload handling for booking's staff pages.

Sections:
* Patients: search.
* Patient imports: the upload form, and the upload handler that stops an
  oversized file while it is still arriving.
"""

from __future__ import annotations

from datetime import time
from decimal import Decimal
from typing import Any

from django import forms
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.db.models import QuerySet
from django.http import HttpRequest

from .models import CampaignStatus, Slot
from .selectors import SlotFilterChoices

# --- Patients -----------------------------------------------------------------------------


class PatientSearchForm(forms.Form):
    q = forms.CharField(
        label="Search by name or NHS number",
        required=False,
        max_length=100,
        strip=True,
    )


# --- Patient imports ----------------------------------------------------------------------


class UploadSizeLimitHandler(FileUploadHandler):
    """Installed first on the upload page: once a file passes `max_bytes`, it is
    skipped, so the rest of it is read from the network and thrown away instead of
    being written to memory or a temporary file. The view then reports the size.
    The service still checks `UploadedFile.size` itself; this only spares the
    server from storing a huge upload."""

    def __init__(self, request: HttpRequest | None = None, *, max_bytes: int) -> None:
        super().__init__(request)
        self.max_bytes = max_bytes
        self.exceeded = False

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        if start + len(raw_data) > self.max_bytes:
            self.exceeded = True
            raise SkipFile
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None  # the next handler (memory or temporary file) builds the file


class PatientImportForm(forms.Form):
    file = forms.FileField(
        label="Upload a CSV file",
        required=False,  # checked in clean(), so that a too-large file gets its own message
        allow_empty_file=True,  # the service explains an empty file
    )

    def __init__(self, *args: Any, too_large_message: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.too_large_message = too_large_message

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.too_large_message:
            self.add_error("file", self.too_large_message)
        elif not cleaned.get("file"):
            self.add_error("file", "Select a CSV file of patients to upload.")
        return cleaned


# --- Campaigns and booking ----------------------------------------------------------------


class CampaignForm(forms.Form):
    name = forms.CharField(
        label="Campaign name", max_length=120, help_text="For example “Winter flu clinic 2026”."
    )
    appointment_type = forms.CharField(
        label="Appointment type",
        max_length=100,
        help_text="What patients are booked for. It is sent to EMIS with each booking.",
    )
    start_date = forms.DateField(label="First day", widget=forms.DateInput(attrs={"type": "date"}))
    end_date = forms.DateField(label="Last day", widget=forms.DateInput(attrs={"type": "date"}))
    use_pcn_slots = forms.BooleanField(
        label="Offer PCN slots",
        required=False,
        initial=True,
        help_text="Offer your PCN's shared slots beside your own once its EMIS Community is live.",
    )
    # Which slots: choices are what EMIS's slots for the practice and its PCN carry.
    slot_service_types = forms.MultipleChoiceField(
        label="Slot types",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Only slots of these types are offered (GP Connect's service type). An "
        "active campaign needs at least one.",
    )
    delivery_channels = forms.MultipleChoiceField(
        label="How the appointment happens",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        initial=["In-person"],
        help_text="None ticked: any.",
    )
    slot_sites = forms.MultipleChoiceField(
        label="Sites",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Optional. None ticked: every site.",
    )
    slot_clinicians = forms.MultipleChoiceField(
        label="Clinicians",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Optional. None ticked: every clinician.",
    )
    status = forms.ChoiceField(label="Status", choices=CampaignStatus.choices, initial="draft")
    # Invitations
    invite_channel = forms.ChoiceField(
        label="Send invitations by",
        choices=[("sms", "Text message"), ("email", "Email")],
        initial="sms",
        help_text="Patients without a mobile number get an email instead, and the other way round.",
    )
    invites_per_free_slot = forms.DecimalField(
        label="Invitations per free slot",
        min_value=Decimal("0.5"),
        max_value=Decimal("20"),
        decimal_places=1,
        initial=Decimal("3"),
        help_text="Invitations go out in waves matched to the free slots, so patients are not "
        "invited to find nothing left to book.",
    )
    daily_invite_cap = forms.IntegerField(
        label="Invitations per day, at most", min_value=1, max_value=10_000, initial=200
    )
    sending_from = forms.TimeField(
        label="Send from", initial=time(9, 0), widget=forms.TimeInput(attrs={"type": "time"})
    )
    sending_until = forms.TimeField(
        label="Send until",
        initial=time(19, 0),
        widget=forms.TimeInput(attrs={"type": "time"}),
        help_text="No texts at night: messages wait for these hours (UK time).",
    )
    chaser_count = forms.IntegerField(
        label="Reminders",
        min_value=0,
        max_value=3,
        initial=2,
        help_text="Up to 3, to patients who have not booked, declined or opted out.",
    )
    chaser_interval_days = forms.IntegerField(
        label="Days between reminders", min_value=1, max_value=28, initial=7
    )
    invite_expiry_days = forms.IntegerField(
        label="Invitation links work for (days)",
        min_value=1,
        max_value=28,
        initial=7,
        help_text="Never beyond the campaign's last day.",
    )
    message_patients_on_staff_changes = forms.BooleanField(
        label="Message patients when staff book, move or cancel",
        required=False,
        initial=True,
        help_text="A text message or email with the date, time, site, address and their link "
        "to change or cancel.",
    )

    INVITE_FIELDS = (
        "invite_channel",
        "invites_per_free_slot",
        "daily_invite_cap",
        "sending_from",
        "sending_until",
        "chaser_count",
        "chaser_interval_days",
        "invite_expiry_days",
    )

    SLOT_FILTER_FIELDS = (
        "slot_service_types",
        "delivery_channels",
        "slot_sites",
        "slot_clinicians",
    )

    def __init__(
        self, *args: Any, filter_choices: SlotFilterChoices | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        for name in self.INVITE_FIELDS:
            self.fields[name].required = False  # left empty: the default shown
        if filter_choices is not None:
            for name, values in (
                ("slot_service_types", filter_choices.service_types),
                ("delivery_channels", filter_choices.delivery_channels),
                ("slot_sites", filter_choices.sites),
                ("slot_clinicians", filter_choices.clinicians),
            ):
                self.fields[name].choices = [(v, v) for v in values]  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for name in self.INVITE_FIELDS:
            if data.get(name) in (None, ""):
                data[name] = self.initial.get(name, self.fields[name].initial)
        start, end = data.get("start_date"), data.get("end_date")
        if start and end and end < start:
            self.add_error("end_date", "The last day must be on or after the first day.")
        if data.get("status") == CampaignStatus.ACTIVE and not data.get("slot_service_types"):
            self.add_error(
                "slot_service_types",
                "Choose at least one slot type before making the campaign active: without "
                "one it offers no slots.",
            )
        return data


class BookingForm(forms.Form):
    slot = forms.ModelChoiceField(
        queryset=Slot.objects.none(),
        error_messages={
            "required": "Choose a time.",
            "invalid_choice": "That time is not free for this campaign any more. Choose another.",
        },
    )
    pcn_consent = forms.BooleanField(required=False)

    def __init__(self, *args: Any, slots: QuerySet[Slot], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["slot"].queryset = slots  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        slot = data.get("slot")
        if slot is not None and slot.is_pcn and not data.get("pcn_consent"):
            self.add_error(
                "pcn_consent",
                "This is a PCN slot: confirm the patient agrees to be seen by the PCN and to "
                "their record being shared with it.",
            )
        return data


class CancelForm(forms.Form):
    reason = forms.CharField(
        label="Reason for cancelling",
        max_length=300,
        error_messages={"required": "Give a reason for cancelling."},
    )
