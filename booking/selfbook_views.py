"""Public self-booking pages (no login): /book/<token>/...

Every page first counts the request against per-client-IP and per-link rate
limits (django-ratelimit; 429 when over), then resolves the link; an unknown,
tampered, expired or spent link always gets the same page. The date of birth
must be confirmed (once per session) before anything about the booking is
shown. No patient data goes in URLs besides the token, and the token is never
logged (hippo_pcn.logging)."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from django import forms
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST
from django_ratelimit.core import get_usage
from redis.exceptions import RedisError

from . import selfbook, slot_picker
from .models import Booking, DeclineReason, Invite, Slot
from .services import BookingError, SlotTaken
from .tokens import hash_token

SESSION_KEY = "selfbook_verified_invites"
logger = logging.getLogger(__name__)


class DateOfBirthForm(forms.Form):
    day = forms.IntegerField(
        min_value=1, max_value=31, error_messages={"required": "Enter the day."}
    )
    month = forms.IntegerField(
        min_value=1, max_value=12, error_messages={"required": "Enter the month."}
    )
    year = forms.IntegerField(
        min_value=1900, max_value=2100, error_messages={"required": "Enter the year."}
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not self.errors:
            try:
                data["date_of_birth"] = date(data["year"], data["month"], data["day"])
            except ValueError:
                raise forms.ValidationError("Enter a real date of birth.") from None
        return data


PCN_CONSENT_ERROR = (
    "Tick the box to agree to the Primary Care Network's staff seeing your GP record for "
    "this appointment, or choose a different time."
)


class SlotChoiceForm(forms.Form):
    slot = forms.ModelChoiceField(
        queryset=Slot.objects.none(),
        error_messages={
            "required": "Choose a time.",
            "invalid_choice": "That time is not available. Choose another time.",
        },
    )
    # A time at a PCN site: the patient confirms on a page of its own (where it is,
    # and that the PCN's staff will see their record), which sets `consent_asked`.
    pcn_consent = forms.BooleanField(required=False)
    consent_asked = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, invite: Invite, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["slot"].queryset = selfbook.bookable_slots(invite=invite)  # type: ignore[attr-defined]


class DayChoiceForm(forms.Form):
    """The days page's one question (a GET form: "Continue" opens the day's times)."""

    day = forms.DateField(
        input_formats=["%Y-%m-%d"],
        error_messages={"required": "Choose a day.", "invalid": "Choose a day."},
    )


class DeclineForm(forms.Form):
    reason = forms.ChoiceField(
        choices=DeclineReason.choices,
        widget=forms.RadioSelect,
        error_messages={"required": "Choose a reason."},
    )
    note = forms.CharField(required=False, max_length=300)


# The limits, each over SELFBOOK_RATE_WINDOW_SECONDS (10 minutes by default).
#
# The link is the patient's key, and the date of birth is the real guard: five
# wrong dates lock the link for good (selfbook.dob_check). The limits only keep
# a client from hammering the pages, so they are set well above what a person
# does, counting the actions that matter:
#
# * Forms sent on one link (POST; SELFBOOK_RATE_LIMIT_POSTS_PER_TOKEN, 20): a
#   whole journey is a few date-of-birth tries (five at most), the booking, a
#   change (a new session asks for the date of birth again), a cancel, and a
#   form sent again after an error or "just taken": about ten in all, and a
#   person does not do it all within ten minutes.
# * Page views of one link (GET; SELFBOOK_RATE_LIMIT_PER_TOKEN, 120): opening
#   the link, the days, a few days' times paged Earlier/Later, the
#   confirmation, the change and cancel pages are some 20-45 views; 120
#   allows a patient who pages back and forth a lot, or shares the link with a
#   carer, and still stops a script reloading it every few seconds.
# * Requests from one client (SELFBOOK_RATE_LIMIT_PER_IP, 300): keyed on the
#   client's own address behind our proxies (hippo_pcn.client_ip, with
#   TRUSTED_PROXY_COUNT), never the proxy's, so an NHS trust or a mobile
#   network's shared address is one client per device; 300 leaves room for a
#   household or a surgery's front desk booking for several patients at once.
_LINK_GROUP = "selfbook:link"
_LINK_POST_GROUP = "selfbook:link-post"
_IP_GROUP = "selfbook:ip"


def _rate(setting: str) -> tuple[int, int]:
    return int(getattr(settings, setting)), int(settings.SELFBOOK_RATE_WINDOW_SECONDS)


def _limited(request: HttpRequest, token: str) -> HttpResponse | None:
    """Count this request; the "too many attempts" page (429) when over a limit."""
    link = hash_token(token)[:32]  # the token itself goes nowhere, not even the cache

    def link_key(group: str, request: HttpRequest) -> str:
        return link

    checks = [
        # key="ip" is hippo_pcn.client_ip.client_ip (RATELIMIT_IP_META_KEY).
        {"group": _IP_GROUP, "key": "ip", "rate": _rate("SELFBOOK_RATE_LIMIT_PER_IP")},
        {
            "group": _LINK_GROUP,
            "key": link_key,
            "rate": _rate("SELFBOOK_RATE_LIMIT_PER_TOKEN"),
            "method": ["GET", "HEAD"],
        },
        {
            "group": _LINK_POST_GROUP,
            "key": link_key,
            "rate": _rate("SELFBOOK_RATE_LIMIT_POSTS_PER_TOKEN"),
            "method": ["POST"],
        },
    ]
    try:
        usages = [get_usage(request, increment=True, **check) for check in checks]
    except RedisError:
        # The cache is down: patients can still book (the date-of-birth lockout is
        # in the database); the error is logged for support.
        logger.exception("self-book rate limits unavailable: the cache did not answer")
        return None
    over = [usage for usage in usages if usage is not None and usage["should_limit"]]
    if not over:
        return None
    response = render(request, "selfbook/rate_limited.html", status=429)
    window = settings.SELFBOOK_RATE_WINDOW_SECONDS
    wait = max(usage["time_left"] for usage in over)
    response["Retry-After"] = str(wait if 0 < wait <= window else window)
    return response


def _invalid(request: HttpRequest) -> HttpResponse:
    return render(request, "selfbook/invalid.html", status=404)


def _verified(request: HttpRequest, invite: Invite) -> bool:
    return invite.pk in request.session.get(SESSION_KEY, [])


def _context(invite: Invite, **extra: Any) -> dict[str, Any]:
    return {
        "invite": invite,
        "campaign": invite.campaign,
        "practice": invite.campaign.practice,
        **extra,
    }


def _resolve(request: HttpRequest, token: str) -> tuple[Any, HttpResponse | None]:
    limited = _limited(request, token)
    if limited is not None:
        return None, limited
    state = selfbook.link_state(token=token)
    if not state.valid:
        return None, _invalid(request)
    return state, None


def _after_dob(
    request: HttpRequest, token: str, *, booked: bool | None
) -> tuple[Any, HttpResponse | None]:
    """For the pages after the date-of-birth step: the link's state, or the
    response to send instead (rate limit, invalid link, or back to the start when
    the date of birth is not confirmed in this session, the link is locked, or
    the page needs a booking (`booked=True`) or none (`booked=False`))."""
    state, response = _resolve(request, token)
    if response is not None:
        return None, response
    invite = state.invite
    wrong_booking_state = booked is not None and (state.booking is not None) != booked
    if not _verified(request, invite) or invite.dob_locked_at is not None or wrong_booking_state:
        return None, redirect("selfbook:start", token=token)
    return state, None


@never_cache
@require_http_methods(["GET", "POST"])
def start(request: HttpRequest, token: str) -> HttpResponse:
    """The link: date of birth first, then the slots (or the booking)."""
    state, response = _resolve(request, token)
    if response is not None:
        return response
    invite = state.invite
    if invite.dob_locked_at is not None:
        return render(request, "selfbook/locked.html", _context(invite), status=403)
    if not _verified(request, invite):
        form = DateOfBirthForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            result = selfbook.dob_check(invite=invite, entered=form.cleaned_data["date_of_birth"])
            if result == selfbook.DobResult.OK:
                request.session.cycle_key()
                request.session[SESSION_KEY] = [
                    *request.session.get(SESSION_KEY, []),
                    invite.pk,
                ]
                return redirect("selfbook:start", token=token)
            if result == selfbook.DobResult.LOCKED:
                return render(request, "selfbook/locked.html", _context(invite), status=403)
            form.add_error(
                None, "The date of birth does not match our records. Check it and try again."
            )
        status = 400 if form.errors else 200
        return render(request, "selfbook/dob.html", _context(invite, form=form), status=status)
    if state.booking is not None:
        return render(request, "selfbook/booked.html", _context(invite, booking=state.booking))
    if invite.declined_at is not None:
        return render(request, "selfbook/declined.html", _context(invite))
    return _slots_page(request, invite, SlotChoiceForm(invite=invite))


def _picker_query(request: HttpRequest) -> dict[str, Any]:
    """Where the patient is in the picker: the `day` and `at` (a page of its
    times) and `from` (a page of days) in the query, or in the form the page
    posted (so an error shows the same times again)."""
    source = request.POST if request.method == "POST" else request.GET
    return {
        "day": slot_picker.parse_day(source.get("day")),
        "at": slot_picker.parse_time(source.get("at")),
        "starting": slot_picker.parse_day(source.get("from")),
    }


def _slots_page(
    request: HttpRequest,
    invite: Invite,
    form: SlotChoiceForm,
    *,
    booking: Booking | None = None,
    alternatives: list[Slot] | None = None,
    status: int = 200,
) -> HttpResponse:
    """The slot picker: a day's times (or, after "just taken", the nearest free
    times), or the days to choose from."""
    context = _context(invite, form=form, booking=booking)
    if alternatives:
        groups = slot_picker.group_by_site(alternatives)
        return render(
            request,
            "selfbook/slots.html",
            {
                **context,
                "alternatives": True,
                "sites": groups,
                "any_pcn": any(g.is_pcn for g in groups),
            },
            status=status,
        )
    query = _picker_query(request)
    page = selfbook.picker_page(invite=invite, **query)
    if isinstance(page, slot_picker.TimePage):
        return render(
            request,
            "selfbook/slots.html",
            {
                **context,
                "page": page,
                "sites": page.sites,
                "any_pcn": any(g.is_pcn for g in page.sites),
            },
            status=status,
        )
    # The days page. "Continue" without a day chosen is the one mistake it can
    # have; a day chosen that has no free times left is said on the page.
    day_form = DayChoiceForm(request.GET if request.GET.get("step") == "day" else None)
    day_form.is_valid()
    return render(
        request,
        "selfbook/days.html",
        # A time sent without its day (a form from before the picker, or a forged
        # one) keeps its error on the days page.
        {**context, "form": form if form.errors else day_form, "page": page},
        status=400 if day_form.errors else status,
    )


def _consent_page(
    request: HttpRequest,
    invite: Invite,
    form: SlotChoiceForm,
    slot: Slot,
    *,
    booking: Booking | None,
    status: int,
) -> HttpResponse:
    """The chosen time is at a PCN site: where it is, in plain words, that the
    PCN's staff will see the patient's record for it, and the box to agree."""
    query = _picker_query(request)
    return render(
        request,
        "selfbook/pcn_consent.html",
        _context(invite, form=form, slot=slot, booking=booking, day=query["day"], at=query["at"]),
        status=status,
    )


@never_cache
@require_POST
def book(request: HttpRequest, token: str) -> HttpResponse:
    state, response = _after_dob(request, token, booked=None)
    if response is not None:
        return response
    invite = state.invite
    if request.POST.get("intent") == "book" and state.booking is not None:
        # The booking form sent twice (a double click, a resubmitted page): the first
        # one booked; show that booking rather than an error.
        return redirect("selfbook:confirmed", token=token)
    form = SlotChoiceForm(request.POST, invite=invite)
    if not form.is_valid():
        return _slots_page(request, invite, form, booking=state.booking, status=400)
    slot = form.cleaned_data["slot"]
    consent = form.cleaned_data["pcn_consent"]
    if slot.is_pcn and not consent:
        # First ask; asked and not ticked: the error summary and the question again.
        status = 200
        if form.cleaned_data["consent_asked"]:
            form.add_error("pcn_consent", PCN_CONSENT_ERROR)
            status = 400
        return _consent_page(request, invite, form, slot, booking=state.booking, status=status)
    try:
        if state.booking is not None:
            selfbook.selfbook_rebook(
                invite=invite, booking=state.booking, slot=slot, pcn_consent=consent
            )
        else:
            selfbook.selfbook_book(invite=invite, slot=slot, pcn_consent=consent)
    except SlotTaken as exc:
        form.add_error("slot", "Sorry, that time was just taken. Here are the nearest free times.")
        return _slots_page(
            request, invite, form, booking=state.booking, alternatives=exc.alternatives, status=409
        )
    except BookingError as exc:
        invite.refresh_from_db()
        if invite.booking_id is not None and state.booking is None:
            return redirect("selfbook:start", token=token)  # a double submit: already booked
        form.add_error(None, exc.message)
        return _slots_page(request, invite, form, booking=state.booking, status=400)
    return redirect("selfbook:confirmed", token=token)


@never_cache
@require_http_methods(["GET"])
def confirmed(request: HttpRequest, token: str) -> HttpResponse:
    state, response = _after_dob(request, token, booked=True)
    if response is not None:
        return response
    return render(request, "selfbook/confirmed.html", _context(state.invite, booking=state.booking))


@never_cache
@require_http_methods(["GET", "POST"])
def change(request: HttpRequest, token: str) -> HttpResponse:
    state, response = _after_dob(request, token, booked=True)
    if response is not None:
        return response
    return _slots_page(
        request, state.invite, SlotChoiceForm(invite=state.invite), booking=state.booking
    )


@never_cache
@require_http_methods(["GET", "POST"])
def cancel(request: HttpRequest, token: str) -> HttpResponse:
    state, response = _after_dob(request, token, booked=True)
    if response is not None:
        return response
    invite = state.invite
    error = ""
    if request.method == "POST":
        try:
            cancelled = selfbook.selfbook_cancel(invite=invite, booking=state.booking)
        except BookingError as exc:
            error = exc.message
        else:
            return render(request, "selfbook/cancelled.html", _context(invite, booking=cancelled))
    return render(
        request,
        "selfbook/cancel.html",
        _context(invite, booking=state.booking, error=error),
        status=400 if error else 200,
    )


@never_cache
@require_http_methods(["GET", "POST"])
def decline(request: HttpRequest, token: str) -> HttpResponse:
    state, response = _after_dob(request, token, booked=False)
    if response is not None:
        return response
    invite = state.invite
    form = DeclineForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            selfbook.selfbook_decline(
                invite=invite, reason=form.cleaned_data["reason"], note=form.cleaned_data["note"]
            )
        except BookingError as exc:
            form.add_error("note", exc.message)
        else:
            return redirect("selfbook:start", token=token)
    return render(
        request,
        "selfbook/decline.html",
        _context(invite, form=form),
        status=400 if form.errors else 200,
    )
