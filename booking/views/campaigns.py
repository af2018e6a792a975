"""Campaigns: choose a practice, the list, create, edit, the campaign's page,
refresh its slots, add all the practice's patients."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from emis_integration.selectors import pcn_connection_diagnosis
from hippo_pcn.organisations.models import Organisation

from ..forms import CampaignForm
from ..invites import campaign_invite_panel
from ..models import BookingStatus, Campaign, Patient
from ..selectors import (
    SlotFilterChoices,
    campaign_filter_description,
    campaign_no_match_message,
    campaign_patient_rows,
    campaign_pcn_diagnosis,
    campaign_sources,
    campaigns_for_user,
    rows_with_bookings,
    slot_filter_choices,
)
from ..services import (
    campaign_add_patients,
    campaign_refresh_slots,
    campaign_update,
    practice_refresh_slots,
)
from ..services import campaign_create as campaign_create_service
from .common import _campaign_or_404, _onboarding_form, _practice_or_404, _practices


def _add_errors(form: Any, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


@login_required
@require_GET
def campaign_practice_choice(request: HttpRequest) -> HttpResponse:
    practices = list(_practices(request)[:1000])
    if not practices:
        raise Http404("You are not a member of a GP practice.")
    if len(practices) == 1:
        return redirect("booking:campaign_list", practices[0].ods_code)
    return render(
        request,
        "booking/practice_choice.html",
        {
            "practices": practices,
            "target": "booking:campaign_list",
            "caption": "Campaigns",
            "question": "Which practice's campaigns do you want to see?",
            "explanation": "You work for more than one GP practice. Choose one to see its "
            "campaigns and book its patients.",
        },
    )


@login_required
@require_http_methods(["GET"])
def campaign_list(request: HttpRequest, ods_code: str) -> HttpResponse:
    practice = _practice_or_404(request, ods_code)
    campaigns = (
        campaigns_for_user(user=request.user)
        .filter(practice=practice)
        .annotate(
            patient_count=Count("entries", distinct=True),
            booked_count=Count(
                "bookings", filter=Q(bookings__status=BookingStatus.BOOKED), distinct=True
            ),
        )
    )
    return render(
        request, "booking/campaigns/list.html", {"practice": practice, "campaigns": campaigns}
    )


def _slot_filter_choices(
    practice: Organisation, campaign: Campaign | None = None
) -> SlotFilterChoices:
    """The slot types (channels, sites, clinicians) campaign setup offers. When no
    slot has been mirrored for the practice yet, EMIS's slots are read first."""
    choices = slot_filter_choices(practice=practice, campaign=campaign)
    if not choices.service_types:
        practice_refresh_slots(practice=practice)
        choices = slot_filter_choices(practice=practice, campaign=campaign)
    return choices


@login_required
@require_http_methods(["GET", "POST"])
def campaign_create(request: HttpRequest, ods_code: str) -> HttpResponse:
    practice = _practice_or_404(request, ods_code)
    form = CampaignForm(
        request.POST if request.method == "POST" else None,
        filter_choices=_slot_filter_choices(practice),
    )
    if request.method == "POST" and form.is_valid():
        try:
            campaign = campaign_create_service(
                user=request.user, practice=practice, **form.cleaned_data
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, f"Campaign “{campaign.name}” created.")
            return redirect("booking:campaign_detail", pk=campaign.pk)
    return render(
        request,
        "booking/campaigns/form.html",
        {
            "form": form,
            "practice": practice,
            "diagnosis": pcn_connection_diagnosis(practice=practice),
            "onboarding_form": _onboarding_form(request),
            "title": "New campaign",
        },
        status=400 if form.errors else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def campaign_edit(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _campaign_or_404(request, pk)
    initial = {name: getattr(campaign, name) for name in CampaignForm.base_fields}
    form = CampaignForm(
        request.POST if request.method == "POST" else None,
        initial=initial,
        filter_choices=_slot_filter_choices(campaign.practice, campaign),
    )
    if request.method == "POST" and form.is_valid():
        try:
            campaign_update(user=request.user, campaign=campaign, **form.cleaned_data)
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, "Campaign saved.")
            return redirect("booking:campaign_detail", pk=campaign.pk)
    return render(
        request,
        "booking/campaigns/form.html",
        {
            "form": form,
            "practice": campaign.practice,
            "campaign": campaign,
            "diagnosis": campaign_pcn_diagnosis(campaign=campaign),
            "onboarding_form": _onboarding_form(request),
            "title": f"Edit {campaign.name}",
        },
        status=400 if form.errors else 200,
    )


@login_required
@require_GET
def campaign_detail(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _campaign_or_404(request, pk)
    search = request.GET.get("q", "").strip()
    page = Paginator(campaign_patient_rows(campaign=campaign, search=search), 50).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "booking/campaigns/detail.html",
        {
            "campaign": campaign,
            "sources": campaign_sources(campaign=campaign),
            "slot_filter": campaign_filter_description(campaign=campaign),
            "no_match_message": campaign_no_match_message(campaign=campaign),
            "diagnosis": campaign_pcn_diagnosis(campaign=campaign),
            "onboarding_form": _onboarding_form(request),
            "page": page,
            "rows": rows_with_bookings(campaign=campaign, patients=page.object_list),
            "search": search,
            "practice_patient_count": Patient.objects.filter(practice=campaign.practice).count(),
            # Invitations panel (booking/invites/).
            "invite_panel": campaign_invite_panel(campaign=campaign),
        },
    )


@login_required
@require_POST
def campaign_refresh(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _campaign_or_404(request, pk)
    results = campaign_refresh_slots(campaign=campaign)
    if not results:
        messages.warning(request, "There is no live EMIS connection to refresh slots from.")
    for result in results:
        if result.error:
            messages.error(request, f"{result.source} slots could not be refreshed: {result.error}")
        else:
            messages.success(
                request,
                f"{result.source} slots refreshed: {result.seen} free, "
                f"{result.removed} no longer free.",
            )
    return redirect("booking:campaign_detail", pk=campaign.pk)


@login_required
@require_POST
def campaign_add_all_patients(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _campaign_or_404(request, pk)
    added = campaign_add_patients(
        user=request.user,
        campaign=campaign,
        patients=Patient.objects.filter(practice=campaign.practice),
    )
    messages.success(request, f"{added} patient(s) added to the campaign.")
    return redirect("booking:campaign_detail", pk=campaign.pk)
