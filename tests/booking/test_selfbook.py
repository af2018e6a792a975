"""The public self-book pages behind an invitation link."""

import hashlib
import threading
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection as db_connection
from django.test import Client
from django.utils import timezone

from booking.models import Booking, Invite
from booking.selectors import campaign_offerable_slots
from booking.tokens import hash_token, token_for_salt
from emis_integration.sandbox import models as sandbox
from tracing.models import TracingTask

from .factories import PatientFactory
from .picker_walk import DAY_VALUES, SLOT_IDS, link


def make_invite(campaign, patient, **fields):
    from booking.tokens import new_token_fields

    invite = Invite.objects.create(
        campaign=campaign,
        patient=patient,
        channel="sms",
        expires_at=fields.pop("expires_at", timezone.now() + timedelta(days=7)),
        **new_token_fields(),
        **fields,
    )
    return invite, token_for_salt(invite.token_salt)


def verified_client(token, patient):
    client = Client()
    dob = patient.date_of_birth
    response = client.post(
        f"/book/{token}/", {"day": dob.day, "month": dob.month, "year": dob.year}
    )
    assert response.status_code == 302, response.status_code
    return client


@pytest.fixture
def invited(mirrored, patients):
    invite, token = make_invite(mirrored, patients[0])
    return invite, token, patients[0]


def test_tokens_are_long_random_and_stored_only_as_a_hash(invited):
    invite, token, _ = invited
    assert len(token) == 43  # 256 bits, URL-safe base64
    assert invite.token_hash == hashlib.sha256(token.encode()).hexdigest()
    stored = " ".join(str(v) for v in Invite.objects.filter(pk=invite.pk).values().first().values())
    assert token not in stored
    other, other_token = make_invite(
        invite.campaign, PatientFactory(practice=invite.patient.practice)
    )
    assert other_token != token


def test_date_of_birth_then_slots_labelled_by_where(invited):
    _, token, patient = invited
    # Names no page text contains by chance (a factory surname such as "Day" is
    # also a form label).
    patient.first_name, patient.last_name = "Perpetua", "Quillfeather"
    patient.save(update_fields=["first_name", "last_name"])
    client = Client()
    first = client.get(f"/book/{token}/")
    assert first.status_code == 200
    assert b"What is your date of birth?" in first.content
    for personal in (patient.first_name, patient.last_name, patient.nhs_number):
        assert personal.encode() not in first.content  # nothing personal before the check
    client = verified_client(token, patient)
    page = client.get(f"/book/{token}/").content.decode()
    days = _days(page)
    assert len(days) == 2
    times = [client.get(f"/book/{token}/?day={day}").content.decode() for day in days]
    assert sum(page.count('data-testid="slot-option"') for page in times) == 5
    assert "Your practice" in times[0]
    assert "Alpha Hub" in times[0] and "1 High Street" in times[0]


def test_book_a_pcn_slot_and_see_the_confirmation(invited):
    invite, token, patient = invited
    client = verified_client(token, patient)
    slot = campaign_offerable_slots(campaign=invite.campaign).filter(is_pcn=True).first()
    response = client.post(
        f"/book/{token}/book/", {"slot": slot.pk, "consent_asked": "1", "pcn_consent": "on"}
    )
    assert response.status_code == 302
    confirmation = client.get(response["Location"]).content.decode()
    assert "Appointment booked" in confirmation
    assert "Alpha Hub" in confirmation and "1 High Street" in confirmation
    booking = Booking.objects.get()
    assert booking.booked_via == "self_book"
    assert booking.pcn_consent
    assert booking.booked_by is None
    assert TracingTask.objects.filter(emis_appointment_id=booking.emis_appointment_id).exists()
    invite.refresh_from_db()
    assert invite.used_at is not None and invite.booking == booking
    # Double submit: no second booking, back to the booking page.
    again = client.post(f"/book/{token}/book/", {"slot": slot.pk, "intent": "book"})
    assert again.status_code == 302
    assert again["Location"].endswith("/confirmed/")
    assert Booking.objects.filter(status="booked").count() == 1


def test_forged_slot_of_another_campaign_is_refused(invited, practice_a, practice_admin):
    from booking import services
    from booking.models import Slot

    invite, token, patient = invited
    other = services.campaign_create(
        user=practice_admin,
        practice=practice_a,
        name="Other",
        appointment_type="x",
        start_date=timezone.localdate(),
        end_date=timezone.localdate() + timedelta(days=3),
    )
    foreign = Slot.objects.create(
        connection=invite.campaign.bookings.model._meta.get_field(
            "connection"
        ).related_model.objects.first(),
        viewer=practice_a,
        emis_slot_id="999999",
        start=timezone.now() + timedelta(days=40),
        end=timezone.now() + timedelta(days=40, minutes=10),
        refreshed_at=timezone.now(),
    )
    assert other.pk != invite.campaign_id
    client = verified_client(token, patient)
    response = client.post(f"/book/{token}/book/", {"slot": foreign.pk})
    assert response.status_code == 400
    assert b"That time is not available" in response.content
    assert not Booking.objects.exists()


def test_slot_taken_at_the_last_moment(invited):
    invite, token, patient = invited
    client = verified_client(token, patient)
    slot = campaign_offerable_slots(campaign=invite.campaign).filter(is_pcn=False).first()
    sandbox.Slot.objects.filter(pk=int(slot.emis_slot_id)).update(status="busy")
    response = client.post(f"/book/{token}/book/", {"slot": slot.pk})
    assert response.status_code == 409
    assert b"Sorry, that time was just taken" in response.content
    assert b'data-testid="alternatives"' in response.content


def test_cancel_then_the_link_is_spent(invited):
    invite, token, patient = invited
    client = verified_client(token, patient)
    slot = campaign_offerable_slots(campaign=invite.campaign).first()
    client.post(f"/book/{token}/book/", {"slot": slot.pk})
    assert client.get(f"/book/{token}/cancel/").status_code == 200
    done = client.post(f"/book/{token}/cancel/")
    assert b"Appointment cancelled" in done.content
    assert Booking.objects.get().status == "cancelled"
    assert client.get(f"/book/{token}/").status_code == 404


def test_change_books_first_then_cancels(invited):
    invite, token, patient = invited
    client = verified_client(token, patient)
    slots = list(campaign_offerable_slots(campaign=invite.campaign))
    client.post(f"/book/{token}/book/", {"slot": slots[0].pk})
    assert client.get(f"/book/{token}/change/").status_code == 200
    response = client.post(f"/book/{token}/book/", {"slot": slots[2].pk})
    assert response.status_code == 302
    statuses = sorted(Booking.objects.values_list("status", flat=True))
    assert statuses == ["booked", "cancelled"]
    invite.refresh_from_db()
    assert invite.booking.status == "booked"


def test_decline_with_a_reason(invited):
    invite, token, patient = invited
    client = verified_client(token, patient)
    assert client.post(f"/book/{token}/decline/", {}).status_code == 400
    assert client.post(f"/book/{token}/decline/", {"reason": "other"}).status_code == 400
    response = client.post(f"/book/{token}/decline/", {"reason": "elsewhere"})
    assert response.status_code == 302
    invite.refresh_from_db()
    assert invite.declined_at is not None and invite.decline_reason == "elsewhere"
    assert b"Thank you for letting us know" in client.get(f"/book/{token}/").content


def test_the_four_invalid_links_look_the_same(invited, mirrored, patients):
    invite, token, patient = invited
    expired, expired_token = make_invite(
        mirrored, patients[1], expires_at=timezone.now() - timedelta(minutes=1)
    )
    used, used_token = make_invite(mirrored, patients[2])
    client = verified_client(used_token, patients[2])
    slot = campaign_offerable_slots(campaign=mirrored).first()
    client.post(f"/book/{used_token}/book/", {"slot": slot.pk})
    client.post(f"/book/{used_token}/cancel/")
    cases = {
        "unknown": "A" * 43,
        "tampered": token[:-1] + ("A" if token[-1] != "A" else "B"),
        "truncated": token[:20],
        "expired": expired_token,
        "used": used_token,
    }
    responses = {name: Client().get(f"/book/{value}/") for name, value in cases.items()}
    bodies = {r.content for r in responses.values()}
    assert {r.status_code for r in responses.values()} == {404}
    assert len(bodies) == 1
    assert b"This link has expired or is not valid. Contact your practice." in bodies.pop()


def test_date_of_birth_lockout_after_five_failures(invited):
    invite, token, patient = invited
    client = Client()
    wrong = patient.date_of_birth - timedelta(days=1)
    for _ in range(4):
        response = client.post(
            f"/book/{token}/", {"day": wrong.day, "month": wrong.month, "year": wrong.year}
        )
        assert response.status_code == 400
        assert b"does not match our records" in response.content
    fifth = client.post(
        f"/book/{token}/", {"day": wrong.day, "month": wrong.month, "year": wrong.year}
    )
    assert fifth.status_code == 403
    dob = patient.date_of_birth
    right = client.post(f"/book/{token}/", {"day": dob.day, "month": dob.month, "year": dob.year})
    assert right.status_code == 403
    assert b"Contact your practice to book" in right.content
    invite.refresh_from_db()
    assert invite.dob_locked_at is not None


def test_rate_limit_is_kept_in_redis_and_answers_429(invited, settings):
    import redis

    invite, token, patient = invited
    settings.SELFBOOK_RATE_LIMIT_PER_TOKEN = 3
    settings.SELFBOOK_RATE_WINDOW_SECONDS = 24 * 60 * 60  # no window ends mid-test
    client = Client()
    codes = [client.get(f"/book/{token}/").status_code for _ in range(5)]
    assert codes[:3] == [200, 200, 200]
    assert codes[3:] == [429, 429]
    blocked = client.get(f"/book/{token}/")
    assert b"Too many attempts" in blocked.content
    assert blocked["Retry-After"]
    prefix = settings.CACHES["default"]["KEY_PREFIX"]
    keys = redis.Redis.from_url(settings.REDIS_URL).keys(f"{prefix}:*:rl:*")
    assert keys, "the counter lives in Redis, shared by every web process"
    assert not any(token.encode() in key for key in keys)


def test_csrf_is_enforced(invited):
    _, token, patient = invited
    client = Client(enforce_csrf_checks=True)
    dob = patient.date_of_birth
    response = client.post(
        f"/book/{token}/", {"day": dob.day, "month": dob.month, "year": dob.year}
    )
    assert response.status_code == 403


def test_tokens_never_reach_the_logs(invited, caplog):
    _, token, patient = invited
    import logging

    caplog.set_level(logging.DEBUG)
    Client().get(f"/book/{token[:-2]}xx/")
    Client().get(f"/book/{token}/")
    handler_output = "\n".join(
        logging.getLogger("django.request").handlers[0].format(r)
        if logging.getLogger("django.request").handlers
        else r.getMessage()
        for r in caplog.records
    )
    assert token not in handler_output
    assert token[:-2] not in handler_output


@pytest.mark.django_db(transaction=True)
def test_fifty_patients_racing_through_the_page_get_one_booking(
    many_connections, settings, pcn_a, practice_a, practice_a2, practice_admin
):
    from booking import services
    from tests.emis_world import EmisWorld, at

    settings.EMIS_HTTP_TRANSPORT_FACTORY = "tests.emis_integration.transport.wsgi_transport"
    world = EmisWorld(base_url="http://localhost").add_pcn(pcn_a, [practice_a, practice_a2])
    world.add_practice(practice_a)
    world.slots("U10001", [at(2, 9)])
    campaign = services.campaign_create(
        user=practice_admin,
        practice=practice_a,
        name="Race",
        appointment_type="Flu",
        start_date=timezone.localdate(),
        end_date=timezone.localdate() + timedelta(days=7),
        status="active",
        slot_service_types=["Flu vaccination"],
    )
    patients = [PatientFactory(practice=practice_a) for _ in range(50)]
    services.campaign_add_patients(user=practice_admin, campaign=campaign, patients=patients)
    services.campaign_refresh_slots(campaign=campaign)
    slot = campaign_offerable_slots(campaign=campaign).get()
    clients = []
    for patient in patients:
        _, token = make_invite(campaign, patient)
        clients.append((verified_client(token, patient), token))
    codes: list[int] = []
    barrier = threading.Barrier(len(clients))

    def run(client, token):
        try:
            barrier.wait(timeout=30)
            response = client.post(
                f"/book/{token}/book/",
                {"slot": slot.pk, "intent": "book", "consent_asked": "1", "pcn_consent": "on"},
            )
            codes.append(response.status_code)
        finally:
            db_connection.close()

    threads = [threading.Thread(target=run, args=pair) for pair in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    summary = {code: codes.count(code) for code in set(codes)}
    assert len(codes) == len(clients), summary  # every request finished in time
    assert summary.get(302) == 1, summary
    assert set(summary) <= {302, 409}, summary
    assert Booking.objects.filter(status="booked").count() == 1
    assert sandbox.Appointment.objects.filter(status="booked").count() == 1


def test_hash_token_is_sha256():
    assert hash_token("abc") == hashlib.sha256(b"abc").hexdigest()
    assert settings.SELFBOOK_DOB_MAX_FAILURES == 5


# --- the picker: a day first, then that day's times -------------------------------------


def _ids(page):
    return [int(pk) for pk in SLOT_IDS.findall(page)]


def _days(page):
    return DAY_VALUES.findall(page)


def _get(client, token, query="", path=""):
    response = client.get(f"/book/{token}/{path}{query}")
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def test_the_link_asks_for_a_day_then_shows_its_times_grouped_by_site(invited):
    invite, token, patient = invited
    client = verified_client(token, patient)
    days_page = _get(client, token)
    day_2, day_3 = (timezone.localdate() + timedelta(days=n) for n in (2, 3))
    assert _days(days_page) == [day_2.isoformat(), day_3.isoformat()]
    assert "Times from 9:00 a.m. to 11:00 a.m." in days_page
    assert 'data-testid="slot-option"' not in days_page

    # "Continue" without a day: the one question again, with the error.
    unanswered = client.get(f"/book/{token}/?step=day&from={day_2.isoformat()}")
    assert unanswered.status_code == 400
    assert "Choose a day." in unanswered.content.decode()
    assert 'href="#days"' in unanswered.content.decode()

    times = _get(client, token, f"?step=day&from={day_2.isoformat()}&day={day_2.isoformat()}")
    assert f"{day_2:%A} {day_2.day} {day_2:%B}" in times
    # The practice's times first, then each PCN site's, each under its heading.
    headings = times.count('data-testid="site-heading"')
    assert headings == 2
    assert times.index("Your practice") < times.index("Alpha Hub") < times.index("1 High Street")
    offered = campaign_offerable_slots(campaign=invite.campaign)
    on_day_2 = [s.pk for s in offered if timezone.localtime(s.start).date() == day_2]
    assert sorted(_ids(times)) == sorted(on_day_2)
    assert "agree to its staff seeing your GP record" in times
    # Each day links to the next, and back to the days.
    assert link(times, "next-day") == f"?day={day_3.isoformat()}"
    assert link(times, "change-day") == f"?from={day_2.isoformat()}"
    day_3_page = _get(client, token, link(times, "next-day"))
    assert link(day_3_page, "previous-day") == f"?day={day_2.isoformat()}"
    assert len(_ids(day_3_page)) == 2
    assert "Your practice" not in day_3_page  # no practice times that day


def test_only_one_free_day_goes_straight_to_its_times(invited):
    invite, token, patient = invited
    from booking.models import Slot

    day_3 = timezone.localdate() + timedelta(days=3)
    Slot.objects.filter(
        pk__in=[
            s.pk
            for s in campaign_offerable_slots(campaign=invite.campaign)
            if timezone.localtime(s.start).date() == day_3
        ]
    ).delete()
    client = verified_client(token, patient)
    page = _get(client, token)
    assert len(_ids(page)) == 3
    assert 'data-testid="change-day"' not in page  # there is no other day


def test_a_day_with_no_free_times_left_says_so(invited):
    _, token, patient = invited
    client = verified_client(token, patient)
    for day in (timezone.localdate() + timedelta(days=5), timezone.localdate() - timedelta(days=1)):
        page = _get(client, token, f"?day={day.isoformat()}")
        assert 'data-testid="day-gone"' in page
        assert f"No free times on {day:%A} {day.day} {day:%B}" in page
        assert len(_days(page)) == 2


def test_interchangeable_slots_are_one_choice_for_a_patient(invited):
    """Two vaccinators at the same site and time: the patient chooses the time
    once; staff still see both."""
    from booking.models import Slot

    invite, token, patient = invited
    first = campaign_offerable_slots(campaign=invite.campaign).filter(is_pcn=False).first()
    twin = Slot.objects.get(pk=first.pk)
    twin.pk, twin.emis_slot_id, twin.practitioner = None, "twin-1", "Mr Second Vaccinator"
    twin.save()
    client = verified_client(token, patient)
    day = timezone.localtime(first.start).date().isoformat()
    page = _get(client, token, f"?day={day}")
    assert first.pk in _ids(page) and twin.pk not in _ids(page)


@pytest.fixture
def many_days(invited, many_free_days):
    return invited


def test_days_come_a_week_of_free_days_at_a_time(many_days):
    from booking.slot_picker import DAYS_PER_PAGE

    _, token, patient = many_days
    client = verified_client(token, patient)
    today = timezone.localdate()
    first = _get(client, token)
    assert _days(first) == [(today + timedelta(days=n)).isoformat() for n in range(1, 8)]
    assert len(_days(first)) == DAYS_PER_PAGE
    assert link(first, "earlier-days") is None
    assert link(first, "later-days") == f"?from={(today + timedelta(days=8)).isoformat()}"
    second = _get(client, token, link(first, "later-days"))
    assert _days(second) == [(today + timedelta(days=n)).isoformat() for n in range(8, 13)]
    assert link(second, "later-days") is None
    assert link(second, "earlier-days") == f"?from={(today + timedelta(days=1)).isoformat()}"
    # The days form keeps its page, so "Continue" without a day shows it again.
    assert f'name="from" value="{(today + timedelta(days=8)).isoformat()}"' in second


def test_a_day_shows_at_most_about_twenty_times_and_pages_through_them(many_days):
    from booking.slot_picker import TIMES_PER_PAGE

    _, token, patient = many_days
    client = verified_client(token, patient)
    day_4 = (timezone.localdate() + timedelta(days=4)).isoformat()
    page = _get(client, token, f"?day={day_4}")
    assert len(_ids(page)) == TIMES_PER_PAGE
    assert "20 of 40 times" in page
    assert link(page, "later-times") == f"?day={day_4}&at=11:20"
    assert link(page, "earlier-times") is None
    assert link(page, "previous-day") is not None  # the first page of the day
    later = _get(client, token, link(page, "later-times"))
    assert len(_ids(later)) == 20 and not set(_ids(later)) & set(_ids(page))
    assert link(later, "earlier-times") == f"?day={day_4}&at=08:00"
    assert link(later, "next-day") is not None
    # The form keeps the page, so a mistake shows the same times again.
    assert f'name="day" value="{day_4}"' in later and 'name="at" value="11:20"' in later
    error = client.post(f"/book/{token}/book/", {"day": day_4, "at": "11:20"})
    assert error.status_code == 400
    assert "Choose a time." in error.content.decode()
    assert _ids(error.content.decode()) == _ids(later)


def test_later_links_reach_every_free_time_once_and_earlier_links_come_back(many_days):
    invite, token, patient = many_days
    client = verified_client(token, patient)
    first_day = _days(_get(client, token))[0]
    pages = [_get(client, token, f"?day={first_day}")]
    while (later := link(pages[-1], "later-times") or link(pages[-1], "next-day")) is not None:
        assert len(pages) < 40, "the later links go round in circles"
        pages.append(_get(client, token, later))
    ids = [pk for page in pages for pk in _ids(page)]
    assert sorted(ids) == sorted(
        campaign_offerable_slots(campaign=invite.campaign).values_list("pk", flat=True)
    )
    assert len(ids) == len(set(ids))
    assert all(len(_ids(page)) <= 20 for page in pages)
    # Back from the last page, one link at a time, to the first.
    back = [pages[-1]]
    while earlier := link(back[-1], "earlier-times") or link(back[-1], "previous-day"):
        assert len(back) < 40
        back.append(_get(client, token, earlier))
    assert _ids(back[-1]) == _ids(pages[0])


def test_a_later_link_still_moves_on_after_the_times_before_it_go(many_days):
    """The first page of day 4 was 8:00 to 11:10; by the time its "Later times"
    link is followed the first times have gone: the link still shows the times
    after 11:10, not the new first page again."""
    from booking.models import Slot

    _, token, patient = many_days
    client = verified_client(token, patient)
    day_4 = (timezone.localdate() + timedelta(days=4)).isoformat()
    later = link(_get(client, token, f"?day={day_4}"), "later-times")
    Slot.objects.filter(emis_slot_id__in=[f"P4-{i}" for i in range(5)]).delete()
    page = _get(client, token, later)
    assert sorted(_ids(page)) == sorted(
        Slot.objects.filter(emis_slot_id__in=[f"P4-{i}" for i in range(20, 40)]).values_list(
            "pk", flat=True
        )
    )


@pytest.mark.parametrize(
    "query",
    [
        "?day=garbage",
        "?day=2026-02-30",
        "?from=1999-01-01",
        "?from=2099-12-31&day=",
        "?from=x&from=y&page=3",
    ],
)
def test_a_bad_or_out_of_range_day_shows_the_days(many_days, query):
    _, token, patient = many_days
    client = verified_client(token, patient)
    assert _days(_get(client, token, query)) == _days(_get(client, token))


@pytest.mark.parametrize("at", ["garbage", "25:00", "23:59", "", "8"])
def test_a_bad_or_late_at_shows_the_days_first_times(many_days, at):
    _, token, patient = many_days
    client = verified_client(token, patient)
    day_4 = (timezone.localdate() + timedelta(days=4)).isoformat()
    assert _ids(_get(client, token, f"?day={day_4}&at={at}")) == _ids(
        _get(client, token, f"?day={day_4}")
    )


def test_change_page_uses_the_picker_and_links_to_itself(many_days):
    invite, token, patient = many_days
    client = verified_client(token, patient)
    # A time the sandbox EMIS really has (the extra days exist only in the mirror).
    slot = campaign_offerable_slots(campaign=invite.campaign).exclude(emis_slot_id__startswith="P")[
        0
    ]
    assert client.post(f"/book/{token}/book/", {"slot": slot.pk}).status_code == 302
    page = _get(client, token, path="change/")
    assert "Choose a new day" in page
    assert f'href="/book/{token}/change/?from=' in page
    day = _days(page)[0]
    times = _get(client, token, f"?day={day}", path="change/")
    assert f'href="/book/{token}/change/?day={day}&amp;at=' in times
    assert 'name="intent" value="change"' in times


def test_just_taken_shows_the_nearest_free_times(many_days, emis_world):
    from booking.models import Slot

    _, token, patient = many_days
    client = verified_client(token, patient)
    day_10 = (timezone.localdate() + timedelta(days=10)).isoformat()
    # A time on day 10 that somebody booked in EMIS a moment ago.
    gone = Slot.objects.get(emis_slot_id="P10-5")
    [in_emis] = emis_world.slots("A10001", [gone.start])
    sandbox.Slot.objects.filter(pk=in_emis.pk).update(status="busy")
    Slot.objects.filter(pk=gone.pk).update(
        emis_slot_id=str(in_emis.pk), location_id=str(in_emis.schedule.site_id)
    )
    response = client.post(f"/book/{token}/book/", {"slot": gone.pk, "day": day_10})
    assert response.status_code == 409
    page = response.content.decode()
    assert "Sorry, that time was just taken" in page
    nearest = Slot.objects.filter(emis_slot_id__in=["P10-4", "P10-6", "P10-3"]).values_list(
        "pk", flat=True
    )
    assert len(_ids(page)) == 3 and set(_ids(page)) <= set(
        Slot.objects.filter(emis_slot_id__startswith="P10-").values_list("pk", flat=True)
    )
    assert set(_ids(page)) & set(nearest)
    assert gone.pk not in _ids(page)
    assert link(page, "all-times") == ""


def test_picker_queries_do_not_grow_with_days_or_times(many_days, django_assert_max_num_queries):
    from django.test.utils import CaptureQueriesContext

    _, token, patient = many_days
    client = verified_client(token, patient)
    today = timezone.localdate()
    day_12 = (today + timedelta(days=12)).isoformat()
    with CaptureQueriesContext(db_connection) as one_day:
        client.get(f"/book/{token}/?day={day_12}")
    for query in (
        "",
        f"?from={(today + timedelta(days=8)).isoformat()}",
        "?from=garbage",
        f"?day={(today + timedelta(days=3)).isoformat()}&at=11:20",
    ):
        with django_assert_max_num_queries(len(one_day.captured_queries)):
            assert client.get(f"/book/{token}/{query}").status_code == 200
