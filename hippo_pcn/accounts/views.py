"""Staff sign-in: the password step (with django-axes watching for repeated
failures), the lockout page, and the second-factor pages."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import segno
from axes.helpers import get_cool_off, get_failure_limit
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods
from django_otp import login as otp_login

from hippo_pcn.client_ip import client_ip

from . import services
from .forms import AuthenticatorCodeForm, CodeForm
from .middleware import MFA_OWED_SESSION_KEY
from .selectors import mfa_required, mfa_status_for_user, user_has_mfa

RECOVERY_CODES_SESSION_KEY = "hippo_recovery_codes"
RECOVERY_NEXT_SESSION_KEY = "hippo_recovery_codes_next"


def _safe_next(request: HttpRequest, default: str = "") -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return default or reverse("home")


def _with_next(url_name: str, next_url: str) -> str:
    return f"{reverse(url_name)}?{urlencode({'next': next_url})}"


def _when(moment: datetime) -> str:
    local = timezone.localtime(moment)
    if local.date() == timezone.localdate():
        return local.strftime("%H:%M:%S")
    return f"{local:%H:%M} on {local.day} {local:%B %Y}"


def _wrong_code_error(form: CodeForm, check: services.CodeCheck, wrong: str) -> None:
    if check.locked_until is not None:
        form.add_error(
            "code",
            "You have entered too many wrong codes. For your security, wait until "
            f"{_when(check.locked_until)} before you try again. Each wrong code makes the "
            "wait longer.",
        )
    else:
        form.add_error("code", wrong)


class StaffLoginView(LoginView):
    """Django's sign-in page. django-axes counts the failures (its backend refuses a
    locked-out username and address before the password is checked); after the
    password, the second factor is asked for when it is required or set up."""

    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        username = str(request.POST.get("username", ""))[:150]
        with services.signin_attempts_serialised(username=username, ip_address=client_ip(request)):
            return super().post(request, *args, **kwargs)

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        user = form.get_user()
        has_mfa = user_has_mfa(user=user)
        if has_mfa:
            self.request.session[MFA_OWED_SESSION_KEY] = True
        if has_mfa or mfa_required():
            return HttpResponseRedirect(_with_next("mfa_verify", self.get_success_url()))
        return response


def lockout(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: Any = None
) -> HttpResponse:
    """django-axes' lockout response (AXES_LOCKOUT_CALLABLE): an NHS page saying
    what happened, when to try again and who can help, with status 429."""
    cool_off = get_cool_off(request)
    context = {
        "failure_limit": get_failure_limit(request, credentials),
        "cool_off_minutes": int(cool_off.total_seconds() // 60) if cool_off else None,
        "try_again_at": _when(timezone.now() + cool_off) if cool_off else None,
    }
    return render(
        request, "accounts/lockout.html", context, status=settings.AXES_HTTP_RESPONSE_CODE
    )


@login_required
@require_http_methods(["GET", "POST"])
def mfa_verify(request: HttpRequest) -> HttpResponse:
    """Second step of sign-in: a code from the authenticator app, or a recovery code."""
    next_url = _safe_next(request)
    if request.user.is_verified():  # type: ignore[union-attr]
        return redirect(next_url)
    if not user_has_mfa(user=request.user):  # type: ignore[arg-type]
        return redirect(_with_next("mfa_setup", next_url))
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        check = services.mfa_check(user=request.user, code=form.cleaned_data["code"])  # type: ignore[arg-type]
        if check.accepted:
            request.session.cycle_key()
            otp_login(request, check.device)
            if check.used_recovery_code:
                messages.warning(
                    request,
                    f"You signed in with a recovery code, which cannot be used again. You "
                    f"have {check.recovery_codes_left} left. You can make new ones on your "
                    "sign-in security page.",
                )
            return redirect(next_url)
        _wrong_code_error(
            form,
            check,
            "That code is not right. Enter the 6-digit code your authenticator app shows "
            "now, or one of your recovery codes.",
        )
    return render(request, "accounts/mfa_verify.html", {"form": form, "next": next_url})


@login_required
@require_http_methods(["GET", "POST"])
def mfa_setup(request: HttpRequest) -> HttpResponse:
    """First sign-in with two-step verification: link an authenticator app."""
    next_url = _safe_next(request)
    user: Any = request.user
    if user_has_mfa(user=user):
        # Replacing an authenticator takes support's reset: a password alone must
        # never be enough to link a new one.
        if user.is_verified():
            messages.info(request, "Two-step verification is already set up for your account.")
            return redirect("account_security")
        return redirect(_with_next("mfa_verify", next_url))
    device = services.totp_device_for_enrolment(user=user)
    form = AuthenticatorCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        check, codes = services.mfa_enrolment_confirm(
            user=user, device_id=device.pk, code=form.cleaned_data["code"]
        )
        if check.accepted:
            request.session.cycle_key()
            otp_login(request, check.device)
            request.session[MFA_OWED_SESSION_KEY] = True
            request.session[RECOVERY_CODES_SESSION_KEY] = codes
            request.session[RECOVERY_NEXT_SESSION_KEY] = next_url
            return redirect("mfa_recovery_codes")
        _wrong_code_error(
            form,
            check,
            "That code is not right. Check that the app shows hippo-pcn and your username, "
            "then enter the 6-digit code it shows now.",
        )
    qr = segno.make(device.config_url, error="m")
    context = {
        "form": form,
        "next": next_url,
        "qr_data_uri": qr.svg_data_uri(scale=4, border=4, omitsize=True),
        "secret": services.totp_secret_for_display(device),
        "required": mfa_required(),
    }
    return render(request, "accounts/mfa_setup.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def recovery_codes(request: HttpRequest) -> HttpResponse:
    """New recovery codes, shown once: they stay on this page until the user says
    they have saved them."""
    codes = request.session.get(RECOVERY_CODES_SESSION_KEY)
    next_url = request.session.get(RECOVERY_NEXT_SESSION_KEY) or reverse("account_security")
    if not codes:
        return redirect("account_security")
    if request.method == "POST":
        request.session.pop(RECOVERY_CODES_SESSION_KEY, None)
        request.session.pop(RECOVERY_NEXT_SESSION_KEY, None)
        return redirect(next_url)
    return render(request, "accounts/recovery_codes.html", {"codes": codes})


@login_required
@require_http_methods(["GET", "POST"])
def account_security(request: HttpRequest) -> HttpResponse:
    """The user's two-step verification status; new recovery codes (after a code
    from the authenticator app)."""
    user: Any = request.user
    status = mfa_status_for_user(user=user)
    form = AuthenticatorCodeForm(request.POST or None)
    if request.method == "POST" and status.set_up and form.is_valid():
        check, codes = services.recovery_codes_regenerate(user=user, code=form.cleaned_data["code"])
        if check.accepted:
            request.session[RECOVERY_CODES_SESSION_KEY] = codes
            request.session[RECOVERY_NEXT_SESSION_KEY] = reverse("account_security")
            return redirect("mfa_recovery_codes")
        _wrong_code_error(
            form, check, "That code is not right. Enter the 6-digit code your app shows now."
        )
    context = {"status": status, "form": form, "required": mfa_required()}
    return render(request, "accounts/security.html", context)
