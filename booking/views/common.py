"""What the staff pages share: the user's practices and campaigns, found through
the tenancy selectors (another organisation's is a 404), and the onboarding
request form shown wherever PCN slots are missing."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest
from django.shortcuts import get_object_or_404

from emis_integration.forms import OnboardingRequestForm
from hippo_pcn.organisations.models import Organisation
from hippo_pcn.organisations.selectors import user_has_staff_access

from ..models import Campaign
from ..selectors import campaigns_for_user, practices_for_patient_management


def _practices(request: HttpRequest) -> QuerySet[Organisation]:
    if not user_has_staff_access(user=request.user):
        raise PermissionDenied
    return practices_for_patient_management(user=request.user)


def _practice_or_404(request: HttpRequest, ods_code: str) -> Organisation:
    return get_object_or_404(_practices(request), ods_code=ods_code.upper())


def _campaign_or_404(request: HttpRequest, pk: int) -> Campaign:
    if not user_has_staff_access(user=request.user):
        raise PermissionDenied
    return get_object_or_404(campaigns_for_user(user=request.user), pk=pk)


def _onboarding_form(request: HttpRequest) -> OnboardingRequestForm:
    user = request.user
    return OnboardingRequestForm(
        initial={
            "contact_name": user.get_full_name() or user.get_username(),  # type: ignore[union-attr]
            "contact_email": getattr(user, "email", ""),
        }
    )
