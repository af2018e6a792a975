"""Staff pages: the state of the PCN's EMIS connection, and the one-click
onboarding request."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from hippo_pcn.organisations.models import Organisation
from hippo_pcn.organisations.selectors import (
    memberships_for_user,
    organisations_for_user,
    user_has_staff_access,
)

from .forms import OnboardingRequestForm
from .selectors import pcn_connection_diagnosis
from .services import onboarding_request_raise


def _staff_only(request: HttpRequest) -> None:
    if not user_has_staff_access(user=request.user):
        raise PermissionDenied


def _user_practices(request: HttpRequest):
    own = memberships_for_user(user=request.user).filter(organisation__kind="practice")
    return (
        organisations_for_user(user=request.user)
        .filter(pk__in=own.values("organisation_id"))
        .select_related("pcn")
        .order_by("name")
    )


def _initial_contact(request: HttpRequest) -> dict[str, str]:
    user = request.user
    return {
        "contact_name": user.get_full_name() or user.get_username(),  # type: ignore[union-attr]
        "contact_email": getattr(user, "email", ""),
    }


@login_required
@require_http_methods(["GET"])
def pcn_connection(request: HttpRequest) -> HttpResponse:
    _staff_only(request)
    practices = list(_user_practices(request))
    diagnoses = [pcn_connection_diagnosis(practice=p) for p in practices]
    return render(
        request,
        "emis_integration/pcn_connection.html",
        {
            "diagnoses": diagnoses,
            "form": OnboardingRequestForm(initial=_initial_contact(request)),
            "next": request.path,
        },
    )


@login_required
@require_POST
def onboarding_request_create(request: HttpRequest) -> HttpResponse:
    _staff_only(request)
    try:
        practice = _user_practices(request).get(pk=request.POST.get("practice"))
    except (Organisation.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404("No such practice among yours.") from exc
    next_url = request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = ""
    form = OnboardingRequestForm(request.POST)
    if form.is_valid():
        try:
            onboarding, created = onboarding_request_raise(
                user=request.user,  # type: ignore[arg-type]
                practice=practice,
                **form.cleaned_data,
            )
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                form.add_error(None, exc.messages)
        else:
            pcn_name = onboarding.pcn.name
            if created:
                messages.success(
                    request,
                    f"Onboarding of {pcn_name}'s EMIS Community has been requested. The hippo-pcn "
                    "support team will contact you.",
                )
            else:
                messages.success(
                    request,
                    f"Onboarding of {pcn_name}'s EMIS Community was already requested; you have "
                    "been added to that request and support will keep you informed.",
                )
            return redirect(next_url or "emis_integration:pcn_connection")
    return render(
        request,
        "emis_integration/onboarding_request.html",
        {
            "diagnosis": pcn_connection_diagnosis(practice=practice),
            "form": form,
            "next": next_url,
        },
        status=400,
    )
