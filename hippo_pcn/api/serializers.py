from __future__ import annotations

from rest_framework import serializers

from hippo_pcn.organisations.models import Organisation


class MeOrganisationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Organisation
        fields = ("id", "ods_code", "name", "kind")
        read_only_fields = fields


class MeTokenSerializer(serializers.Serializer):
    name = serializers.CharField(read_only=True)
    expires_at = serializers.DateTimeField(read_only=True)


class MeSerializer(serializers.Serializer):
    """Who the request acts as, and what it can see."""

    username = serializers.CharField(read_only=True)
    is_support = serializers.BooleanField(
        read_only=True, help_text="Support sees every organisation."
    )
    organisations = MeOrganisationSerializer(
        many=True,
        read_only=True,
        help_text="The organisations whose data this user (and so this token) can see. "
        "Empty for support, who can see every organisation.",
    )
    token = MeTokenSerializer(
        read_only=True, allow_null=True, help_text="The API token used, or null for a session."
    )
