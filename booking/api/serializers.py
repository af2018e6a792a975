"""What the booking API reads and writes. Input is checked by the staff pages'
own forms (booking/forms.py) where there is one, so the API's messages are the
pages' words."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from emis_integration.models import EmisSystem
from hippo_pcn.api.errors import ProblemSerializer

from ..forms import BookingForm
from ..invites import campaign_invite_counts
from ..models import BookedVia, Booking, BookingStatus, Campaign, CampaignStatus, Slot
from ..selectors import campaign_filter_description, campaign_sources
from .enums import SlotSource

# Ids are PostgreSQL integers.
MAX_ID = 2**31 - 1
# Days asked about: an appointment's day, never centuries away.
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2099, 12, 31)
DAY_RANGE_MESSAGE = "Enter a day between 2000 and 2099, as YYYY-MM-DD."
SLOT_MESSAGES = {
    "required": BookingForm.base_fields["slot"].error_messages["required"],
    "invalid": BookingForm.base_fields["slot"].error_messages["invalid_choice"],
}


def _day_in_range(value: date) -> date:
    if not FIRST_DAY <= value <= LAST_DAY:
        raise serializers.ValidationError(DAY_RANGE_MESSAGE)
    return value


class DayField(serializers.DateField):
    """A day, YYYY-MM-DD, between 2000 and 2099."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault(
            "error_messages", {"invalid": DAY_RANGE_MESSAGE, "required": "Choose a day."}
        )
        super().__init__(input_formats=["%Y-%m-%d"], **kwargs)

    def to_internal_value(self, value: Any) -> date:
        return _day_in_range(super().to_internal_value(value))


class SlotSourceField(serializers.ChoiceField):
    """`is_pcn` as a named source."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault(
            "help_text", "practice: a slot in the practice's own EMIS Web; pcn: a PCN slot."
        )
        super().__init__(choices=SlotSource.choices, source="is_pcn", read_only=True, **kwargs)

    def to_representation(self, value: bool) -> str:
        return str(SlotSource.PCN if value else SlotSource.PRACTICE)


class BookingPracticeSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    ods_code = serializers.CharField(read_only=True)
    name = serializers.CharField(read_only=True)


class BookingPatientSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    nhs_number = serializers.CharField(read_only=True, help_text="10 digits, no spaces.")
    first_name = serializers.CharField(read_only=True)
    last_name = serializers.CharField(read_only=True)
    date_of_birth = serializers.DateField(read_only=True)


# --- Slots ------------------------------------------------------------------------------


class SlotSerializer(serializers.ModelSerializer):
    source = SlotSourceField()

    class Meta:
        model = Slot
        fields = [
            "id",
            "start",
            "end",
            "source",
            "is_pcn",
            "site_name",
            "site_address",
            "practitioner",
            "service_type",
            "delivery_channel",
        ]
        read_only_fields = fields


# --- Bookings ---------------------------------------------------------------------------


class BookingSerializer(serializers.ModelSerializer):
    campaign = serializers.IntegerField(source="campaign_id", read_only=True)
    campaign_name = serializers.CharField(source="campaign.name", read_only=True)
    practice = BookingPracticeSerializer(source="campaign.practice", read_only=True)
    patient = BookingPatientSerializer(read_only=True)
    source = SlotSourceField()
    status = serializers.ChoiceField(choices=BookingStatus.choices, read_only=True)
    status_label = serializers.CharField(source="get_status_display", read_only=True)
    booked_via = serializers.ChoiceField(choices=BookedVia.choices, read_only=True)
    tracing_task = serializers.IntegerField(
        source="tracing_task_id",
        read_only=True,
        allow_null=True,
        help_text="The PCN's tracing task for a PCN booking (GET /api/v1/tracing-tasks/{id}/).",
    )
    replaced_by = serializers.IntegerField(
        source="replaced_by_id",
        read_only=True,
        allow_null=True,
        help_text="The booking this one was moved to, if it was moved.",
    )

    class Meta:
        model = Booking
        fields = [
            "id",
            "campaign",
            "campaign_name",
            "practice",
            "patient",
            "source",
            "is_pcn",
            "status",
            "status_label",
            "start",
            "end",
            "site_name",
            "site_address",
            "practitioner",
            "service_type",
            "emis_appointment_id",
            "booked_via",
            "booked_at",
            "pcn_consent",
            "pcn_consent_at",
            "cancelled_at",
            "cancellation_reason",
            "tracing_task",
            "replaced_by",
        ]
        read_only_fields = fields


class BookingOutcomeSerializer(BookingSerializer):
    """A booking just made, moved or cancelled, with what the page would say."""

    message = serializers.SerializerMethodField(
        help_text="What happened, in the staff page's words, including what the patient "
        "will be sent."
    )

    class Meta(BookingSerializer.Meta):
        fields = [*BookingSerializer.Meta.fields, "message"]
        read_only_fields = fields

    def get_message(self, booking: Booking) -> str:
        return str(self.context.get("message", ""))


class SlotTakenProblemSerializer(ProblemSerializer):
    """A refused booking (problem details); when the slot was just taken, with the
    nearest free slots of the campaign."""

    alternatives = SlotSerializer(
        many=True,
        read_only=True,
        required=False,
        help_text="When the slot was just taken: the nearest free slots (up to 3).",
    )


class BookingListQuerySerializer(serializers.Serializer):
    """The booking list's query parameters."""

    campaign = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_ID, help_text="A campaign's id."
    )
    status = serializers.ChoiceField(choices=BookingStatus.choices, required=False)
    source = serializers.ChoiceField(
        choices=SlotSource.choices,
        required=False,
        help_text="practice: the practice's own slots; pcn: PCN slots.",
    )
    practice = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_ID, help_text="The booking practice's id."
    )
    date_from = DayField(
        required=False, help_text="Appointments on or after this day (UK time), YYYY-MM-DD."
    )
    date_to = DayField(
        required=False, help_text="Appointments on or before this day (UK time), YYYY-MM-DD."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        start, end = attrs.get("date_from"), attrs.get("date_to")
        if start and end and end < start:
            raise serializers.ValidationError(
                {"date_to": ["The last day must be on or after the first day."]}
            )
        return attrs


class BookingCreateSerializer(serializers.Serializer):
    """A staff booking: the campaign, one of its patients and one of its free slots
    (GET /api/v1/campaigns/{id}/slots/). The slot and the consent are checked by
    the staff booking page's form, with its words."""

    campaign = serializers.IntegerField(
        min_value=1,
        max_value=MAX_ID,
        help_text="The campaign's id.",
        error_messages={"required": "Choose a campaign.", "invalid": "Give the campaign's id."},
    )
    patient = serializers.IntegerField(
        min_value=1,
        max_value=MAX_ID,
        help_text="The patient's id: a patient on the campaign's list.",
        error_messages={"required": "Choose a patient.", "invalid": "Give the patient's id."},
    )
    slot = serializers.IntegerField(
        min_value=1,
        max_value=MAX_ID,
        help_text="A free slot's id, from the campaign's slots.",
        error_messages={"required": SLOT_MESSAGES["required"], "invalid": SLOT_MESSAGES["invalid"]},
    )
    pcn_consent = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Required (true) for a PCN slot: the patient agrees to be seen by the PCN and "
        "to their record being shared with it.",
    )


class BookingCancelSerializer(serializers.Serializer):
    """For the schema: the reason is checked by the cancel page's form, with its words."""

    reason = serializers.CharField(
        max_length=300, help_text="Why the appointment is cancelled (kept in the audit log)."
    )


# --- Campaigns --------------------------------------------------------------------------


class SlotFilterSerializer(serializers.Serializer):
    description = serializers.CharField(
        read_only=True, help_text="The filter in words, as the campaign page shows it."
    )
    service_types = serializers.ListField(child=serializers.CharField(), read_only=True)
    delivery_channels = serializers.ListField(
        child=serializers.CharField(), read_only=True, help_text="Empty: any channel."
    )
    sites = serializers.ListField(
        child=serializers.CharField(), read_only=True, help_text="Empty: any site."
    )
    clinicians = serializers.ListField(
        child=serializers.CharField(), read_only=True, help_text="Empty: any clinician."
    )


class CampaignSerializer(serializers.ModelSerializer):
    practice = BookingPracticeSerializer(read_only=True)
    status = serializers.ChoiceField(choices=CampaignStatus.choices, read_only=True)
    status_label = serializers.CharField(source="get_status_display", read_only=True)
    slot_filter = serializers.SerializerMethodField()
    patient_count = serializers.IntegerField(
        read_only=True, help_text="Patients on the campaign's list."
    )
    booked_count = serializers.IntegerField(
        read_only=True, help_text="Patients with a current booking."
    )

    class Meta:
        model = Campaign
        fields = [
            "id",
            "name",
            "practice",
            "appointment_type",
            "start_date",
            "end_date",
            "status",
            "status_label",
            "use_pcn_slots",
            "slot_filter",
            "message_patients_on_staff_changes",
            "patient_count",
            "booked_count",
        ]
        read_only_fields = fields

    @extend_schema_field(SlotFilterSerializer)
    def get_slot_filter(self, campaign: Campaign) -> dict[str, Any]:
        return {
            "description": campaign_filter_description(campaign=campaign),
            "service_types": list(campaign.slot_service_types or []),
            "delivery_channels": list(campaign.delivery_channels or []),
            "sites": list(campaign.slot_sites or []),
            "clinicians": list(campaign.slot_clinicians or []),
        }


class CampaignSourceSerializer(serializers.Serializer):
    source = serializers.ChoiceField(choices=SlotSource.choices, read_only=True)
    organisation = serializers.CharField(read_only=True, help_text="The practice's or PCN's name.")
    free_slots = serializers.IntegerField(
        read_only=True,
        help_text="Free slots the campaign offers from this source (after its slot filter), "
        "in its dates.",
    )
    last_refreshed = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="When this source's slots were last read."
    )


class CampaignFiguresSerializer(serializers.Serializer):
    invited = serializers.IntegerField(read_only=True)
    queued = serializers.IntegerField(read_only=True, help_text="Invitations not sent yet.")
    delivered = serializers.IntegerField(read_only=True)
    failed = serializers.IntegerField(read_only=True)
    booked = serializers.IntegerField(read_only=True, help_text="Current bookings.")
    booked_practice = serializers.IntegerField(read_only=True)
    booked_pcn = serializers.IntegerField(read_only=True)
    declined = serializers.IntegerField(read_only=True)
    cancelled = serializers.IntegerField(
        read_only=True, help_text="Bookings cancelled (not counting moves)."
    )
    not_yet_booked = serializers.IntegerField(read_only=True)
    non_responders = serializers.IntegerField(read_only=True)


def campaign_detail_extras(*, campaign: Campaign) -> dict[str, Any]:
    """The campaign page's free slots per source and its invitation and booking
    figures."""
    counts = campaign_invite_counts(campaign=campaign)
    return {
        "sources": [
            {
                "source": SlotSource.PCN
                if summary.connection.system == EmisSystem.EMIS_COMMUNITY
                else SlotSource.PRACTICE,
                "organisation": summary.name,
                "free_slots": summary.free_slots,
                "last_refreshed": summary.last_refreshed,
            }
            for summary in campaign_sources(campaign=campaign)
        ],
        "figures": {**asdict(counts), "booked": counts.booked},
    }


class CampaignDetailSerializer(CampaignSerializer):
    sources = serializers.SerializerMethodField()
    figures = serializers.SerializerMethodField()

    class Meta(CampaignSerializer.Meta):
        fields = [*CampaignSerializer.Meta.fields, "sources", "figures"]
        read_only_fields = fields

    def to_representation(self, instance: Campaign) -> dict[str, Any]:
        self._extras = campaign_detail_extras(campaign=instance)
        return super().to_representation(instance)

    @extend_schema_field(CampaignSourceSerializer(many=True))
    def get_sources(self, campaign: Campaign) -> Any:
        return CampaignSourceSerializer(self._extras["sources"], many=True).data

    @extend_schema_field(CampaignFiguresSerializer)
    def get_figures(self, campaign: Campaign) -> Any:
        return CampaignFiguresSerializer(self._extras["figures"]).data


class CampaignListQuerySerializer(serializers.Serializer):
    practice = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_ID, help_text="A practice's id."
    )
    status = serializers.ChoiceField(choices=CampaignStatus.choices, required=False)


class CampaignSlotsQuerySerializer(serializers.Serializer):
    day = DayField(help_text="The day (UK time), YYYY-MM-DD.")
