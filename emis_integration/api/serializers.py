"""What the connections API shows: who, which system, its state and when it last
worked. Never its addresses, ASIDs, credentials or error texts (which can hold
addresses): those are for support, in the admin."""

from __future__ import annotations

from rest_framework import serializers

from ..models import ConnectionStatus, EmisConnection, EmisSystem


class ConnectionOrganisationSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    ods_code = serializers.CharField(read_only=True)
    name = serializers.CharField(read_only=True)


class ConnectionSerializer(serializers.ModelSerializer):
    organisation = ConnectionOrganisationSerializer(read_only=True)
    system = serializers.ChoiceField(
        choices=EmisSystem.choices,
        read_only=True,
        help_text="emis_web: a practice's EMIS Web; emis_community: a PCN's EMIS Community.",
    )
    system_label = serializers.CharField(source="get_system_display", read_only=True)
    status = serializers.ChoiceField(
        choices=ConnectionStatus.choices,
        read_only=True,
        help_text="Only a live connection is used for slots, booking and polling.",
    )
    status_label = serializers.CharField(source="get_status_display", read_only=True)
    is_live = serializers.BooleanField(read_only=True)
    last_success_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="When a call to EMIS last worked."
    )
    last_error_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="When a call to EMIS last failed."
    )

    class Meta:
        model = EmisConnection
        fields = [
            "id",
            "organisation",
            "system",
            "system_label",
            "status",
            "status_label",
            "is_live",
            "status_changed_at",
            "last_success_at",
            "last_error_at",
        ]
        read_only_fields = fields
