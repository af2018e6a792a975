"""The connections API: the state of the EMIS connections of the user's
organisations (emis_integration.selectors.connections_for_user), status only."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, viewsets

from hippo_pcn.api.errors import problem_responses

from ..models import EmisConnection
from ..selectors import connections_for_user
from .serializers import ConnectionSerializer

READ_PROBLEMS = (400, 401, 403, 404, 429)


@extend_schema_view(
    list=extend_schema(
        operation_id="connections_list",
        summary="List EMIS connections",
        description="The EMIS connections of your organisations: their state and when they "
        "last worked. Never their addresses or credentials.",
        responses={200: ConnectionSerializer(many=True), **problem_responses(*READ_PROBLEMS)},
    ),
    retrieve=extend_schema(
        operation_id="connections_retrieve",
        summary="Get an EMIS connection's state",
        responses={200: ConnectionSerializer, **problem_responses(*READ_PROBLEMS)},
    ),
)
class ConnectionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = ConnectionSerializer
    lookup_value_regex = "[0-9]+"
    ordering = ("id",)

    def get_queryset(self) -> QuerySet[EmisConnection]:
        # Only what is shown is read: the endpoint details and credentials stay in
        # the database.
        return connections_for_user(user=self.request.user).only(
            "id",
            "organisation",
            "organisation__id",
            "organisation__ods_code",
            "organisation__name",
            "system",
            "status",
            "status_changed_at",
            "last_success_at",
            "last_error_at",
        )
