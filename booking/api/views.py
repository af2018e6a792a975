"""Booking's API views. Thin, like booking/views/: find the object through the
user's selector (another organisation's is a 404), check the input with the
page's form, call one service, and say what happened in the page's words.

Status codes: 400 when the input is wrong (field errors, as the page shows
them); 409 when the service refuses in the current state (with its message);
202 when EMIS may have made the appointment but could not confirm it (the
booking is "Checking with EMIS" until it is settled).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from hippo_pcn.api.errors import (
    PROBLEM_CONTENT_TYPE,
    ProblemError,
    problem_body,
    problem_responses,
)

from ..forms import BookingForm, CancelForm
from ..invites import booking_staff_message_note
from ..models import Booking, BookingStatus, Campaign, Patient, Slot
from ..selectors import (
    LONDON,
    bookings_for_user,
    campaign_offerable_slots,
    campaigns_for_user,
)
from ..services import (
    BookingError,
    BookingOutcomeUnknown,
    SlotTaken,
    booking_cancel,
    booking_create,
)
from .enums import SlotSource
from .serializers import (
    BookingCancelSerializer,
    BookingCreateSerializer,
    BookingListQuerySerializer,
    BookingOutcomeSerializer,
    BookingSerializer,
    CampaignDetailSerializer,
    CampaignListQuerySerializer,
    CampaignSerializer,
    CampaignSlotsQuerySerializer,
    SlotSerializer,
    SlotTakenProblemSerializer,
)

CAMPAIGN_NOT_FOUND = "There is no campaign with that id among your practices' campaigns."
PATIENT_NOT_FOUND = "There is no patient with that id on this campaign's list."


READ_PROBLEMS = (400, 401, 403, 404, 429)


def _query(serializer_class: type[serializers.Serializer], request: Request) -> dict[str, Any]:
    """Validated query parameters. Given as a plain dict, not the QueryDict DRF reads
    like an HTML form, so an empty value (?status=) is an error, not "not given"."""
    query = serializer_class(data=request.query_params.dict())
    query.is_valid(raise_exception=True)
    return dict(query.validated_data)


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=LONDON)


def _form_errors(form: Any) -> ValidationError:
    """A page form's errors as the API's field errors (the same words)."""
    return ValidationError(
        {
            ("non_field_errors" if field == "__all__" else field): list(errors)
            for field, errors in form.errors.items()
        }
    )


def _when(value: datetime) -> str:
    return timezone.localtime(value).strftime("%a %-d %b %Y at %H:%M")


# --- Bookings ---------------------------------------------------------------------------


def bookings_filter(*, queryset: QuerySet[Booking], params: dict[str, Any]) -> QuerySet[Booking]:
    """The booking list's filters, from validated query parameters."""
    if params.get("campaign"):
        queryset = queryset.filter(campaign_id=params["campaign"])
    if params.get("status"):
        queryset = queryset.filter(status=params["status"])
    if params.get("source"):
        queryset = queryset.filter(is_pcn=params["source"] == SlotSource.PCN)
    if params.get("practice"):
        queryset = queryset.filter(practice_id=params["practice"])
    if params.get("date_from"):
        queryset = queryset.filter(start__gte=_day_start(params["date_from"]))
    if params.get("date_to"):
        queryset = queryset.filter(start__lt=_day_start(params["date_to"] + timedelta(days=1)))
    return queryset


@extend_schema_view(
    list=extend_schema(
        operation_id="bookings_list",
        summary="List bookings",
        description="Bookings of your practices' campaigns, in appointment time order.",
        parameters=[BookingListQuerySerializer],
        responses={200: BookingSerializer(many=True), **problem_responses(*READ_PROBLEMS)},
    ),
    retrieve=extend_schema(
        operation_id="bookings_retrieve",
        summary="Get a booking",
        responses={200: BookingSerializer, **problem_responses(*READ_PROBLEMS)},
    ),
)
class BookingViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = BookingSerializer
    lookup_value_regex = "[0-9]+"
    ordering = ("start", "id")

    def get_queryset(self) -> QuerySet[Booking]:
        return bookings_for_user(user=self.request.user).order_by(*self.ordering)

    def filter_queryset(self, queryset: QuerySet[Booking]) -> QuerySet[Booking]:
        if self.action != "list":
            return queryset
        return bookings_filter(
            queryset=queryset, params=_query(BookingListQuerySerializer, self.request)
        )

    @extend_schema(
        operation_id="bookings_create",
        summary="Book a patient",
        description="Book a campaign's patient into one of its free slots, as the staff "
        "booking page does: the appointment is made in EMIS at once (a PCN slot also opens "
        "the PCN's tracing task, and needs pcn_consent). 409 when the slot was just taken "
        "(with the nearest free ones in `alternatives`) or the booking is refused; 202 when "
        "EMIS could not confirm it yet: the booking is then “Checking with EMIS”.",
        request=BookingCreateSerializer,
        responses={
            201: BookingOutcomeSerializer,
            202: OpenApiResponse(
                BookingOutcomeSerializer,
                description="EMIS may have made the appointment but did not confirm it: "
                "the booking is being checked (status outcome_unknown). Don't book again.",
            ),
            (409, PROBLEM_CONTENT_TYPE): OpenApiResponse(
                SlotTakenProblemSerializer,
                description="The slot was just taken (with the nearest free ones), or the "
                "booking was refused; `detail` says why.",
            ),
            **problem_responses(400, 401, 403, 404, 429),
        },
    )
    def create(self, request: Request) -> Response:
        payload = BookingCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        campaign = campaigns_for_user(user=request.user).filter(pk=data["campaign"]).first()
        if campaign is None:
            raise NotFound(CAMPAIGN_NOT_FOUND)
        patient = (
            Patient.objects.filter(pk__in=campaign.entries.values("patient_id"))
            .select_related("practice")
            .filter(pk=data["patient"])
            .first()
        )
        if patient is None:
            raise NotFound(PATIENT_NOT_FOUND)
        form = BookingForm(
            {"slot": data["slot"], "pcn_consent": data["pcn_consent"]},
            slots=campaign_offerable_slots(campaign=campaign),
        )
        if not form.is_valid():
            raise _form_errors(form)
        try:
            made = booking_create(
                campaign=campaign,
                patient=patient,
                slot=form.cleaned_data["slot"],
                booked_by=request.user,
                pcn_consent=form.cleaned_data["pcn_consent"],
            )
        except SlotTaken as exc:
            # A problem with an extension member: the nearest free slots to book instead.
            body = problem_body(status=409, title="This slot was just taken", detail=exc.message)
            body["alternatives"] = SlotSerializer(exc.alternatives, many=True).data
            return Response(body, status=409, content_type=PROBLEM_CONTENT_TYPE)
        except BookingOutcomeUnknown as exc:
            checking = (
                bookings_for_user(user=request.user)
                .filter(campaign=campaign, patient=patient, status=BookingStatus.OUTCOME_UNKNOWN)
                .order_by("-pk")
                .first()
            )
            if checking is None:
                raise ProblemError(
                    status=409, title="Checking with EMIS", detail=exc.message
                ) from exc
            return Response(
                BookingOutcomeSerializer(checking, context={"message": exc.message}).data,
                status=status.HTTP_202_ACCEPTED,
            )
        except BookingError as exc:
            raise ProblemError(status=409, title="Not booked", detail=exc.message) from exc
        made = self.get_queryset().get(pk=made.pk)
        message = (
            f"Booked for {_when(made.start)} at {made.site_name or campaign.practice.name}. "
            f"{booking_staff_message_note(booking=made)}"
        )
        return Response(
            BookingOutcomeSerializer(made, context={"message": message}).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": f"{request.path.rstrip('/')}/{made.pk}/"},
        )

    @extend_schema(
        operation_id="bookings_cancel",
        summary="Cancel a booking",
        description="Cancel the appointment in EMIS, as the cancel page does. 409 when it "
        "cannot be cancelled (not current, already started, EMIS did not answer).",
        request=BookingCancelSerializer,
        responses={
            200: BookingOutcomeSerializer,
            **problem_responses(400, 401, 403, 404, 409, 429),
        },
    )
    @action(detail=True, methods=["post"], url_path="cancel", url_name="cancel")
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        booking = self.get_object()
        body = request.data if isinstance(request.data, dict) else {}
        form = CancelForm({"reason": body.get("reason", "")})
        if not form.is_valid():
            raise _form_errors(form)
        try:
            booking_cancel(booking=booking, user=request.user, reason=form.cleaned_data["reason"])
        except BookingError as exc:
            raise ProblemError(status=409, title="Not cancelled", detail=exc.message) from exc
        booking = self.get_queryset().get(pk=booking.pk)
        message = (
            f"The appointment is cancelled in EMIS. {booking_staff_message_note(booking=booking)}"
        )
        return Response(BookingOutcomeSerializer(booking, context={"message": message}).data)


# --- Campaigns --------------------------------------------------------------------------


def _campaigns(user: Any) -> QuerySet[Campaign]:
    return campaigns_for_user(user=user).annotate(
        patient_count=Count("entries", distinct=True),
        booked_count=Count(
            "bookings", filter=Q(bookings__status=BookingStatus.BOOKED), distinct=True
        ),
    )


@extend_schema_view(
    list=extend_schema(
        operation_id="campaigns_list",
        summary="List campaigns",
        description="Your practices' campaigns, latest first. The slot counts per source "
        "and the invitation and booking figures are in each campaign's detail.",
        parameters=[CampaignListQuerySerializer],
        responses={200: CampaignSerializer(many=True), **problem_responses(*READ_PROBLEMS)},
    ),
    retrieve=extend_schema(
        operation_id="campaigns_retrieve",
        summary="Get a campaign",
        description="The campaign, the free slots each of its sources offers (after its slot "
        "filter, in its dates), and its cohort's invitation and booking figures.",
        responses={200: CampaignDetailSerializer, **problem_responses(*READ_PROBLEMS)},
    ),
)
class CampaignViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    lookup_value_regex = "[0-9]+"
    ordering = ("-start_date", "id")

    def get_queryset(self) -> QuerySet[Campaign]:
        return _campaigns(self.request.user).order_by(*self.ordering)

    def get_serializer_class(self) -> type[serializers.BaseSerializer]:
        return CampaignDetailSerializer if self.action == "retrieve" else CampaignSerializer

    def filter_queryset(self, queryset: QuerySet[Campaign]) -> QuerySet[Campaign]:
        if self.action != "list":
            return queryset
        params = _query(CampaignListQuerySerializer, self.request)
        if params.get("practice"):
            queryset = queryset.filter(practice_id=params["practice"])
        if params.get("status"):
            queryset = queryset.filter(status=params["status"])
        return queryset


@extend_schema_view(
    get=extend_schema(
        operation_id="campaigns_slots_list",
        summary="List a campaign's free slots on one day",
        description="The free slots the campaign offers on that day (its sources, slot "
        "filter and dates, as the booking page offers them), in time order: pick one to book.",
        parameters=[CampaignSlotsQuerySerializer],
        responses={200: SlotSerializer(many=True), **problem_responses(*READ_PROBLEMS)},
    )
)
class CampaignSlotList(generics.ListAPIView):
    serializer_class = SlotSerializer
    ordering = ("start", "id")

    def get_queryset(self) -> QuerySet[Slot]:
        campaign = campaigns_for_user(user=self.request.user).filter(pk=self.kwargs["pk"]).first()
        if campaign is None:
            raise NotFound(CAMPAIGN_NOT_FOUND)
        day = _query(CampaignSlotsQuerySerializer, self.request)["day"]
        return campaign_offerable_slots(campaign=campaign).filter(
            start__gte=_day_start(day), start__lt=_day_start(day + timedelta(days=1))
        )
