"""The real URLs plus a few API views that raise each kind of error, for
tests/api/test_errors_and_throttles.py."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.urls import path
from rest_framework import generics, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from hippo_pcn.api.errors import ProblemError
from hippo_pcn.api.serializers import MeOrganisationSerializer
from hippo_pcn.audit.services import AuditRow, audit_bulk_append, audit_record
from hippo_pcn.organisations.selectors import organisations_for_user
from hippo_pcn.urls import handler404, handler500  # noqa: F401
from hippo_pcn.urls import urlpatterns as real_urlpatterns


class Boom(APIView):
    def get(self, request):
        raise RuntimeError("internal detail 9434765919 that must not leak")


class Conflict(APIView):
    def post(self, request):
        raise ProblemError(
            status=409,
            title="Already claimed",
            detail="Someone else claimed this task a moment ago.",
        )


class ItemSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=5)
    count = serializers.IntegerField(min_value=1)
    tags = serializers.ListField(child=serializers.CharField(max_length=3), required=False)


class Validate(APIView):
    def post(self, request):
        serializer = ItemSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(serializer.data)


class Hidden(APIView):
    def get(self, request):
        raise Http404("No Booking matches the given query.")


class Denied(APIView):
    def get(self, request):
        raise PermissionDenied


class Write(APIView):
    def post(self, request):
        audit_record(actor=request.user, action="test.api_write", details={"n": 1})
        audit_bulk_append(
            [
                AuditRow(
                    actor_label=request.user.username, actor_id=request.user.pk, action="test.bulk"
                )
            ]
        )
        return Response(status=204)


class Organisations(generics.ListAPIView):
    serializer_class = MeOrganisationSerializer
    ordering = ("name", "pk")

    def get_queryset(self):
        return organisations_for_user(user=self.request.user)


urlpatterns = [
    path("api/test/boom/", Boom.as_view()),
    path("api/test/conflict/", Conflict.as_view()),
    path("api/test/validate/", Validate.as_view()),
    path("api/test/hidden/", Hidden.as_view()),
    path("api/test/denied/", Denied.as_view()),
    path("api/test/write/", Write.as_view()),
    path("api/test/organisations/", Organisations.as_view()),
    path("not-api/write/", Write.as_view()),
    *real_urlpatterns,
]
