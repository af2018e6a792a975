from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from hippo_pcn.organisations.selectors import (
    home_summary_for_user,
    staff_links_for_user,
    user_has_staff_access,
    user_is_support,
)


@login_required
def home(request: HttpRequest) -> HttpResponse:
    if not user_has_staff_access(user=request.user):
        return render(request, "staff/no_membership.html")
    return render(
        request,
        "staff/home.html",
        {
            "is_support": user_is_support(user=request.user),
            "summary": home_summary_for_user(user=request.user),
            "links": staff_links_for_user(user=request.user),
        },
    )
