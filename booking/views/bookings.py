"""Booking by staff: book a campaign's patient, move (rebook) or cancel a
booking. The slot picker is booking/slot_picker.py; the services are
booking/services/bookings.py."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from hippo_pcn.organisations.selectors import user_has_staff_access

from .. import slot_picker
from ..forms import BookingForm, CancelForm
from ..invites import booking_staff_message_note
from ..models import Booking, BookingStatus, Campaign, Patient, Slot
from ..selectors import (
    bookings_for_user,
    campaign_no_match_message,
    campaign_offerable_slots,
    campaign_pcn_diagnosis,
)
from ..services import BookingError, SlotTaken, booking_cancel, booking_create, booking_rebook
from .common import _campaign_or_404, _onboarding_form


def _when(value: datetime) -> str:
    return timezone.localtime(value).strftime("%a %-d %b %Y at %H:%M")


def _picker(request: HttpRequest, campaign: Campaign) -> dict[str, Any]:
    """The row of days with free slots and the chosen day's slots, grouped by
    site (booking/slot_picker.py): `from` picks the row, `day` and `at` the
    day's page of times."""
    picker = slot_picker.staff_picker(
        campaign_offerable_slots(campaign=campaign),
        day=slot_picker.parse_day(request.GET.get("day")),
        at=slot_picker.parse_time(request.GET.get("at")),
        starting=slot_picker.parse_day(request.GET.get("from")),
    )
    return {
        "picker": picker,
        "no_match_message": ""
        if picker.days.days
        else campaign_no_match_message(campaign=campaign),
    }


def _booking_page(
    request: HttpRequest, campaign: Campaign, patient: Patient, booking: Booking | None
) -> HttpResponse:
    form = BookingForm(
        request.POST if request.method == "POST" else None,
        slots=campaign_offerable_slots(campaign=campaign),
    )
    alternatives: list[Slot] = []
    status = 200
    if request.method == "POST" and form.is_valid():
        slot = form.cleaned_data["slot"]
        consent = form.cleaned_data["pcn_consent"]
        name = f"{patient.first_name} {patient.last_name}"
        try:
            if booking is None:
                made = booking_create(
                    campaign=campaign,
                    patient=patient,
                    slot=slot,
                    booked_by=request.user,
                    pcn_consent=consent,
                )
                messages.success(
                    request,
                    f"{name} is booked for {_when(made.start)} at "
                    f"{made.site_name or campaign.practice.name}. "
                    f"{booking_staff_message_note(booking=made)}",
                )
            else:
                made = booking_rebook(
                    booking=booking, slot=slot, user=request.user, pcn_consent=consent
                )
                booking.refresh_from_db()
                if booking.status == BookingStatus.CANCELLED:
                    messages.success(
                        request,
                        f"{name} is moved to {_when(made.start)}; the old appointment is "
                        f"cancelled. {booking_staff_message_note(booking=made)}",
                    )
                else:
                    messages.warning(
                        request,
                        f"{name} is booked for {_when(made.start)}, but the old appointment could "
                        f"not be cancelled in EMIS yet ({booking.cancel_error}). Cancel it from "
                        f"the campaign page. {booking_staff_message_note(booking=made)}",
                    )
        except SlotTaken as exc:
            form.add_error("slot", exc.message)
            alternatives = exc.alternatives
            status = 409
        except BookingError as exc:
            form.add_error(None, exc.message)
            status = 400
        else:
            return redirect("booking:campaign_detail", pk=campaign.pk)
    elif request.method == "POST":
        status = 400
    context = {
        "campaign": campaign,
        "patient": patient,
        "booking": booking,
        "form": form,
        "alternatives": slot_picker.group_by_site(alternatives),
        "diagnosis": campaign_pcn_diagnosis(campaign=campaign),
        "onboarding_form": _onboarding_form(request),
        **_picker(request, campaign),
    }
    return render(request, "booking/book.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def booking_new(request: HttpRequest, pk: int, patient_pk: int) -> HttpResponse:
    campaign = _campaign_or_404(request, pk)
    patient = get_object_or_404(
        Patient.objects.filter(pk__in=campaign.entries.values("patient_id")), pk=patient_pk
    )
    return _booking_page(request, campaign, patient, None)


@login_required
@require_http_methods(["GET", "POST"])
def booking_move(request: HttpRequest, booking_pk: int) -> HttpResponse:
    if not user_has_staff_access(user=request.user):
        raise PermissionDenied
    booking = get_object_or_404(
        bookings_for_user(user=request.user), pk=booking_pk, status=BookingStatus.BOOKED
    )
    return _booking_page(request, booking.campaign, booking.patient, booking)


@login_required
@require_http_methods(["GET", "POST"])
def booking_cancel_view(request: HttpRequest, booking_pk: int) -> HttpResponse:
    if not user_has_staff_access(user=request.user):
        raise PermissionDenied
    booking = get_object_or_404(bookings_for_user(user=request.user), pk=booking_pk)
    form = CancelForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            booking_cancel(booking=booking, user=request.user, reason=form.cleaned_data["reason"])
        except BookingError as exc:
            form.add_error(None, exc.message)
            status = 400
        else:
            messages.success(
                request,
                "The appointment is cancelled in EMIS. "
                f"{booking_staff_message_note(booking=booking)}",
            )
            return redirect("booking:campaign_detail", pk=booking.campaign_id)
    elif request.method == "POST":
        status = 400
    return render(request, "booking/cancel.html", {"booking": booking, "form": form}, status=status)
