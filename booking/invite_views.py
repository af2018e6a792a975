"""Staff pages for invitations. Thin: find the campaign among the user's (404 if
it is not one of theirs), call one service or selector, render or redirect.

* The campaign's invitations (delivery status and failure reasons).
* "Invite all eligible patients" (a wave now) and "Send reminders now".
* The non-responder list and call outcomes.
* The demo's message list (demo mode only).
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from hippo_pcn.organisations.models import Organisation
from hippo_pcn.organisations.selectors import user_has_staff_access

from .invites import (
    INVITE_FILTERS,
    STATE_DONE,
    campaign_invite_counts,
    campaign_invite_state,
    campaign_send_wave,
    demo_messages_with_recipients,
    invite_record_call_outcome,
    invites_create,
    invites_for_campaign,
    invites_send_reminders,
    non_responders,
)
from .models import CallOutcome, Campaign, Invite, Patient
from .selectors import campaigns_for_user, practices_for_patient_management

INVITES_PER_PAGE = 50
# The most patients one "invite selected" request may name.
MAX_SELECTED = 500


class CallOutcomeForm(forms.Form):
    outcome = forms.ChoiceField(
        choices=CallOutcome.choices,
        error_messages={"required": "Choose what happened on the call."},
    )


def _campaign_or_404(request: HttpRequest, pk: int) -> Campaign:
    if not user_has_staff_access(user=request.user):
        raise PermissionDenied
    return get_object_or_404(campaigns_for_user(user=request.user), pk=pk)


def _practice_or_404(request: HttpRequest, ods_code: str) -> Organisation:
    if not user_has_staff_access(user=request.user):
        raise PermissionDenied
    return get_object_or_404(
        practices_for_patient_management(user=request.user), ods_code=ods_code.upper()
    )


@login_required
@require_GET
def invite_list(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _campaign_or_404(request, pk)
    status = request.GET.get("status", "")
    if status not in INVITE_FILTERS:
        status = ""
    page = Paginator(
        invites_for_campaign(campaign=campaign, status=status), INVITES_PER_PAGE
    ).get_page(request.GET.get("page"))
    return render(
        request,
        "booking/invites/list.html",
        {
            "campaign": campaign,
            "page": page,
            "status": status,
            "filters": [
                ("", "All"),
                ("queued", "Queued"),
                ("sent", "Sent"),
                ("failed", "Failed"),
                ("booked", "Booked from the link"),
                ("declined", "Declined"),
            ],
            "counts": campaign_invite_counts(campaign=campaign),
        },
    )


@login_required
@require_POST
def invite_send_wave(request: HttpRequest, pk: int) -> HttpResponse:
    """ "Invite all eligible patients": a wave now, within the cap and hours."""
    campaign = _campaign_or_404(request, pk)
    try:
        result = campaign_send_wave(campaign=campaign, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        if result.invited:
            messages.success(
                request,
                f"{result.invited} patient(s) invited. Messages are being sent now.",
            )
        elif result.plan.state == STATE_DONE:
            messages.info(request, f"No one was invited: {result.plan.detail}")
        else:
            messages.warning(request, f"No one was invited: {result.plan.detail}")
    return redirect("booking:campaign_detail", pk=campaign.pk)


@login_required
@require_POST
def invite_patients(request: HttpRequest, pk: int) -> HttpResponse:
    """Invite the selected patients (POST `patient`, one or more ids) now,
    whatever the wave's capacity rules: staff chose them."""
    campaign = _campaign_or_404(request, pk)
    ids = [int(v) for v in request.POST.getlist("patient") if v.isdigit()][:MAX_SELECTED]
    if not ids:
        messages.error(request, "Select at least one patient to invite.")
        return redirect("booking:campaign_detail", pk=campaign.pk)
    try:
        result = invites_create(
            campaign=campaign,
            patients=Patient.objects.filter(practice=campaign.practice, pk__in=ids),
            user=request.user,
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        text = f"{result.created} patient(s) invited."
        if result.skipped_total:
            text += f" Not invited: {result.skipped_text()}."
        messages.success(request, text)
    return redirect("booking:campaign_detail", pk=campaign.pk)


@login_required
@require_POST
def invite_send_reminders(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _campaign_or_404(request, pk)
    try:
        result = invites_send_reminders(campaign=campaign, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        if result.queued:
            messages.success(request, f"{result.queued} reminder(s) are being sent.")
        else:
            messages.warning(request, f"No reminders sent: {result.reason}")
    return redirect("booking:campaign_detail", pk=campaign.pk)


@login_required
@require_GET
def invite_non_responders(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _campaign_or_404(request, pk)
    show_all = request.GET.get("show") == "all"
    page = Paginator(
        non_responders(campaign=campaign, include_called=show_all), INVITES_PER_PAGE
    ).get_page(request.GET.get("page"))
    return render(
        request,
        "booking/invites/non_responders.html",
        {
            "campaign": campaign,
            "page": page,
            "show_all": show_all,
            "outcomes": CallOutcome.choices,
            "state": campaign_invite_state(campaign=campaign),
        },
    )


@login_required
@require_POST
def invite_call_outcome(request: HttpRequest, pk: int, invite_pk: int) -> HttpResponse:
    campaign = _campaign_or_404(request, pk)
    invite: Invite = get_object_or_404(
        Invite.objects.select_related("campaign", "campaign__practice"),
        pk=invite_pk,
        campaign=campaign,
    )
    form = CallOutcomeForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose what happened on the call.")
    else:
        try:
            invite_record_call_outcome(
                invite=invite, outcome=form.cleaned_data["outcome"], user=request.user
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            label = CallOutcome(form.cleaned_data["outcome"]).label
            messages.success(request, f"Call outcome recorded: {label}.")
    return redirect("booking:invite_non_responders", pk=campaign.pk)


@never_cache
@login_required
@require_GET
def demo_messages(request: HttpRequest, ods_code: str) -> HttpResponse:
    """The demo's texts and emails (the file backend's), with their links: the
    demo has no phones. Only in demo mode."""
    if not settings.DEMO_MODE:
        raise Http404("There are no demo messages outside the demo.")
    practice = _practice_or_404(request, ods_code)
    return render(
        request,
        "booking/invites/demo_messages.html",
        {"practice": practice, "items": demo_messages_with_recipients(practice=practice)},
    )
