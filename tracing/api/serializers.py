"""What the tracing API sends and accepts. Output only reads the task and the
figures the selectors computed; input for the actions reuses the worklist
form's messages, so people read the same words everywhere."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ..forms import CannotTraceForm
from ..history import HistoryLine, tracing_task_title, user_name
from ..models import CannotTraceReason, TaskSource, TaskStatus, TracingTask
from ..services.actions import OTHER_NEEDS_A_NOTE

# --- tracing tasks ---------------------------------------------------------------------


class TracingTaskSerializer(serializers.ModelSerializer):
    """A task as the worklist shows it. `owner_name` and `pcn_name` come from the
    view's context (one query per page, not a join per row)."""

    nhs_number = serializers.CharField(
        source="patient_nhs_number",
        read_only=True,
        help_text="Ten digits, or empty when not yet known.",
    )
    status = serializers.ChoiceField(choices=TaskStatus.choices, read_only=True)
    status_label = serializers.SerializerMethodField()
    source = serializers.ChoiceField(choices=TaskSource.choices, read_only=True)
    cannot_trace_reason = serializers.ChoiceField(
        choices=CannotTraceReason.choices, allow_blank=True, read_only=True
    )
    owner_name = serializers.SerializerMethodField()
    pcn_name = serializers.SerializerMethodField()
    claimed_by_name = serializers.SerializerMethodField()
    done_by_name = serializers.SerializerMethodField()
    overdue = serializers.SerializerMethodField()
    appointment_within_24h = serializers.SerializerMethodField()

    class Meta:
        model = TracingTask
        fields: tuple[str, ...] = (
            "id",
            "status",
            "status_label",
            "nhs_number",
            "patient_given_name",
            "patient_family_name",
            "patient_birth_date",
            "patient_gender",
            "registered_practice",
            "registered_practice_ods",
            "registered_practice_name",
            "appointment_start",
            "appointment_end",
            "site_name",
            "practitioner",
            "service",
            "source",
            "pcn",
            "pcn_name",
            "owner",
            "owner_name",
            "due_at",
            "overdue",
            "appointment_within_24h",
            "claimed_by_name",
            "claimed_at",
            "done_by_name",
            "done_at",
            "cannot_trace_reason",
            "cannot_trace_note",
            "verified_at",
            "verification_note",
        )
        read_only_fields: tuple[str, ...] = fields

    def _names(self) -> dict[int, str]:
        names: dict[int, str] = self.context.get("organisation_names", {})
        return names

    def get_status_label(self, task: TracingTask) -> str:
        return str(TaskStatus(task.status).label)

    def get_owner_name(self, task: TracingTask) -> str:
        return self._names().get(task.owner_id, "")

    def get_pcn_name(self, task: TracingTask) -> str:
        return self._names().get(task.pcn_id, "")

    def get_claimed_by_name(self, task: TracingTask) -> str | None:
        return None if task.claimed_by is None else user_name(task.claimed_by)

    def get_done_by_name(self, task: TracingTask) -> str | None:
        return None if task.done_by is None else user_name(task.done_by)

    def get_overdue(self, task: TracingTask) -> bool:
        return task.is_overdue(self.context.get("now"))

    def get_appointment_within_24h(self, task: TracingTask) -> bool:
        return task.is_within_24h(self.context.get("now"))


class HistoryLineSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    when = serializers.CharField(help_text="The time as staff read it, in Europe/London.")
    sentence = serializers.CharField(help_text="Who did what, in words.")


class TracingTaskDetailSerializer(TracingTaskSerializer):
    """A task with its history, and whether the user may act on it (and if not,
    why). The view puts `history`, `may_act` and `refusal` in the context."""

    title = serializers.SerializerMethodField()
    may_act = serializers.SerializerMethodField()
    refusal = serializers.SerializerMethodField()
    history = serializers.SerializerMethodField()

    class Meta(TracingTaskSerializer.Meta):
        fields = (
            *TracingTaskSerializer.Meta.fields,
            "title",
            "emis_appointment_id",
            "emis_slot_status",
            "booking_org_ods",
            "may_act",
            "refusal",
            "history",
        )
        read_only_fields = fields

    def get_title(self, task: TracingTask) -> str:
        """The patient and the appointment, as the task's page is titled."""
        return tracing_task_title(task=task)

    def get_may_act(self, task: TracingTask) -> bool:
        """Whether you may claim, release, trace or verify this task."""
        return bool(self.context.get("may_act", False))

    def get_refusal(self, task: TracingTask) -> str | None:
        """Why you may not act on this task, when you may not."""
        refusal: str | None = self.context.get("refusal")
        return refusal

    @extend_schema_field(HistoryLineSerializer(many=True))
    def get_history(self, task: TracingTask) -> Any:
        """Who did what and when, oldest first."""
        history: list[HistoryLine] = self.context.get("history", [])
        return HistoryLineSerializer(history, many=True).data


# --- actions -----------------------------------------------------------------------------

_FORM_REASON_MESSAGES = CannotTraceForm.base_fields["reason"].error_messages


class CannotTraceSerializer(serializers.Serializer):
    """Why the patient cannot be traced: the worklist's “Cannot trace…” form."""

    reason = serializers.ChoiceField(
        choices=CannotTraceReason.choices,
        error_messages={
            "required": _FORM_REASON_MESSAGES["required"],
            "null": _FORM_REASON_MESSAGES["required"],
            "invalid_choice": "Choose why the patient cannot be traced from the list.",
        },
    )
    note = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=2000,
        help_text="What you tried, and what should happen next. Needed for “Other”.",
        error_messages={"max_length": "Keep the note to 2,000 characters or fewer."},
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("reason") == CannotTraceReason.OTHER and not attrs.get("note", "").strip():
            raise serializers.ValidationError({"note": [OTHER_NEEDS_A_NOTE]})
        return attrs


class VerifyResultSerializer(serializers.Serializer):
    registered = serializers.BooleanField(
        help_text="Whether the PCN's EMIS holds the patient (the task is then not needed)."
    )
    message = serializers.CharField(help_text="What the PCN's EMIS said, in words.")
    task = TracingTaskDetailSerializer()


# --- poll health and the dashboard -------------------------------------------------------


class PollHealthSerializer(serializers.Serializer):
    """One live PCN connection's polling (tracing.selectors.PollHealth)."""

    connection_id = serializers.IntegerField()
    pcn_name = serializers.CharField(source="organisation")
    pcn_ods_code = serializers.CharField(source="ods_code")
    healthy = serializers.BooleanField(
        help_text="False when there has been no successful poll for longer than the alert limit."
    )
    last_success_at = serializers.DateTimeField(allow_null=True)
    counted_from = serializers.DateTimeField(
        allow_null=True,
        help_text="What the poll's age counts from: the last successful poll, or going live.",
    )
    last_error = serializers.CharField(allow_blank=True)
    last_error_at = serializers.DateTimeField(allow_null=True)
    alert_raised_at = serializers.DateTimeField(
        allow_null=True, help_text="Set while support is alerted."
    )


class OrganisationRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    name = serializers.CharField()
    ods_code = serializers.CharField()


class DayFiguresSerializer(serializers.Serializer):
    day = serializers.DateField()
    found = serializers.IntegerField(help_text="Tasks found (booked or polled) that day.")
    traced = serializers.IntegerField(help_text="Tasks traced that day.")


class MedianBasisSerializer(serializers.Serializer):
    label = serializers.CharField(source="median_label")
    from_booking = serializers.IntegerField(
        source="median_from_booking",
        help_text="Traced tasks counted from their booking through hippo-pcn.",
    )
    from_found = serializers.IntegerField(
        source="median_from_found",
        help_text="Traced tasks booked outside hippo-pcn, counted from when the poller "
        "found them in EMIS.",
    )


class DashboardPanelSerializer(serializers.Serializer):
    """One PCN's figures, as on the admin's tracing dashboard."""

    pcn = OrganisationRefSerializer()
    open = serializers.IntegerField(help_text="Open or claimed tasks.")
    overdue = serializers.IntegerField(help_text="Open or claimed tasks past their due time.")
    traced_today = serializers.IntegerField()
    before_appointment_rate = serializers.FloatField(
        allow_null=True,
        help_text="Percentage of the last 30 days' appointments traced before they "
        "started; null when there were none.",
    )
    median_hours_to_trace = serializers.FloatField(allow_null=True)
    median_basis = MedianBasisSerializer(source="*")
    days = DayFiguresSerializer(many=True, help_text="Found and traced per day, oldest first.")
    health = PollHealthSerializer(many=True)
