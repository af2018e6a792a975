"""Patients: choose a practice, the practice's patient list."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from ..forms import PatientSearchForm
from ..selectors import PATIENTS_PER_PAGE, patients_for_practice
from .common import _practice_or_404, _practices


@login_required
@require_GET
def patient_practice_choice(request: HttpRequest) -> HttpResponse:
    """/booking/patients/: straight to the practice's list when the user has one
    practice; a choice when they have several."""
    practices = list(_practices(request)[:1000])
    if not practices:
        raise Http404("You are not a member of a GP practice.")
    if len(practices) == 1:
        return redirect("booking:patient_list", practices[0].ods_code)
    return render(request, "booking/practice_choice.html", {"practices": practices})


@login_required
@require_GET
def patient_list(request: HttpRequest, ods_code: str) -> HttpResponse:
    practice = _practice_or_404(request, ods_code)
    form = PatientSearchForm(request.GET)
    search = form.cleaned_data["q"] if form.is_valid() else ""
    paginator = Paginator(
        patients_for_practice(practice=practice, search=search), PATIENTS_PER_PAGE
    )
    page = paginator.get_page(request.GET.get("page"))
    return render(
        request,
        "booking/patient_list.html",
        {
            "practice": practice,
            "form": form,
            "search": search,
            "page": page,
            "page_range": paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1),
            "has_other_practices": _practices(request).exclude(pk=practice.pk).exists(),
        },
    )
