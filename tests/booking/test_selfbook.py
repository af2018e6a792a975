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
    assert page.count('data-testid="slot-option"') == 5
    assert "Your practice" in page
    assert "Alpha Hub" in page and "1 High Street" in page


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
    settings, pcn_a, practice_a, practice_a2, practice_admin
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


# --- paging through the free times ---------------------------------------------------


def test_day_pages_keep_days_whole_and_cap_days_and_times():
    from datetime import date

    from booking.selfbook import PAGE_MAX_DAYS, PAGE_MAX_SLOTS, DayPages, DayRange, day_pages

    first = date(2026, 12, 1)

    def day(n):
        return first + timedelta(days=n)

    ten = [(day(i), 10) for i in range(10)]
    assert day_pages(ten) == DayPages(
        DayRange(first, day(PAGE_MAX_DAYS - 1)), later=DayRange(day(PAGE_MAX_DAYS), day(9))
    )
    assert day_pages(ten, starting=day(PAGE_MAX_DAYS)) == DayPages(
        DayRange(day(PAGE_MAX_DAYS), day(9)), earlier=DayRange(first, day(PAGE_MAX_DAYS - 1))
    )
    # A day bigger than a page is a page of its own, never split.
    big = [(first, 50), (day(1), PAGE_MAX_SLOTS + 20), (day(2), 5)]
    assert day_pages(big) == DayPages(DayRange(first, first), later=DayRange(day(1), day(1)))
    assert day_pages(big, starting=day(1)) == DayPages(
        DayRange(day(1), day(1)), earlier=DayRange(first, first), later=DayRange(day(2), day(2))
    )
    assert day_pages([]) == DayPages(None)


def test_day_pages_begin_at_the_first_free_day_on_or_after_from():
    from datetime import date

    from booking.selfbook import DayPages, DayRange, day_pages

    first = date(2026, 12, 1)

    def day(n):
        return first + timedelta(days=n)

    # Free times on days 0-3 and 10-20: day 5 has none, so its page begins on day 10.
    counts = [(day(i), 4) for i in [*range(4), *range(10, 21)]]
    assert day_pages(counts, starting=day(5)) == DayPages(
        DayRange(day(10), day(16)),
        earlier=DayRange(first, day(12)),  # what its link shows: from day 0, 7 free days
        later=DayRange(day(17), day(20)),
    )
    # Before the first free day, after the last, or none: the first page.
    for starting in (None, day(-30), day(21), day(400)):
        assert day_pages(counts, starting=starting).days == DayRange(first, day(12))
    # "Later" opens the days after the page it was on even when a day before has
    # gone since (today's last time passed): the first page was days 0 to 12 and
    # its link says day 13; the first page is now days 1 to 13, but the link still
    # moves on.
    assert day_pages(counts, starting=first).later == DayRange(day(13), day(19))
    assert day_pages(counts[1:], starting=day(13)).days == DayRange(day(13), day(19))


def test_day_pages_move_to_show_every_time_they_must():
    from datetime import date

    from booking.selfbook import DayRange, day_pages

    first = date(2026, 12, 1)
    counts = [(first + timedelta(days=i), 4) for i in range(20)]
    on_page = first + timedelta(days=3)
    assert day_pages(counts, keep_in_view=[on_page]).days == DayRange(
        first, first + timedelta(days=6)
    )
    later = [first + timedelta(days=6), first + timedelta(days=8)]
    assert day_pages(counts, keep_in_view=later).days == DayRange(
        later[0], later[0] + timedelta(days=6)
    )


@pytest.fixture
def many_days(invited, emis_world, practice_a):
    """40 free practice times on each of days 1 to 12 of the campaign."""
    from datetime import datetime, time

    from booking.models import Slot
    from booking.selectors import LONDON

    connection = emis_world.connections["A10001"]
    today = timezone.localdate()
    Slot.objects.bulk_create(
        [
            Slot(
                connection=connection,
                viewer=practice_a,
                emis_slot_id=f"P{day}-{i}",
                start=datetime.combine(today + timedelta(days=day), time(8, 0), tzinfo=LONDON)
                + timedelta(minutes=10 * i),
                end=datetime.combine(today + timedelta(days=day), time(8, 10), tzinfo=LONDON)
                + timedelta(minutes=10 * i),
                site_name="Alpha Surgery",
                service_type="Flu vaccination",
                delivery_channel="In-person",
                refreshed_at=timezone.now(),
            )
            for day in range(1, 13)
            for i in range(40)
        ]
    )
    return invited


def _range(page):
    """The "Showing free times from ... to ..." line of a slot page."""
    start = page.index('data-testid="slot-range"')
    return page[start : page.index("</p>", start)]


def _first_page(client, token, query=""):
    response = client.get(f"/book/{token}/{query}")
    assert response.status_code == 200
    return response.content.decode()


def test_long_lists_are_paged_by_whole_days(many_days):
    from booking.selfbook import PAGE_MAX_SLOTS

    invite, token, patient = many_days
    client = verified_client(token, patient)
    page = _first_page(client, token)
    today = timezone.localdate()
    shown = page.count('data-testid="slot-option"')
    assert 0 < shown <= PAGE_MAX_SLOTS + 3  # the world's 5 sandbox slots fall on days 2-3
    assert 'data-testid="later-times"' in page and 'data-testid="earlier-times"' not in page
    day_one = today + timedelta(days=1)
    assert f"<strong>{day_one:%A} {day_one.day} {day_one:%B}</strong>" in _range(page)
    later_from = (today + timedelta(days=8)).isoformat()  # 7 days of 40 = 280 on page one
    assert f'?from={later_from}"' in page

    second = _first_page(client, token, f"?from={later_from}")
    assert second.count('data-testid="slot-option"') == 5 * 40
    assert 'data-testid="earlier-times"' in second and 'data-testid="later-times"' not in second
    assert f'?from={(today + timedelta(days=1)).isoformat()}"' in second
    # The form keeps the range, so a mistake shows the same days again.
    assert f'name="from" value="{later_from}"' in second
    error = client.post(f"/book/{token}/book/", {"from": later_from})
    assert error.status_code == 400
    assert error.content.decode().count('data-testid="slot-option"') == 5 * 40

    # Every time on a later page can be booked from it.
    from booking.models import Slot

    later_slot = Slot.objects.filter(emis_slot_id="P10-0").get()
    assert f'value="{later_slot.pk}"' in second


@pytest.mark.parametrize(
    "value", ["garbage", "2026-02-30", "1999-01-01", "2099-12-31", "2026-11-25T00:00", ""]
)
def test_a_bad_or_out_of_range_from_shows_the_first_page(many_days, value):
    _, token, patient = many_days
    client = verified_client(token, patient)
    first = _first_page(client, token)
    again = _first_page(client, token, f"?from={value}")
    assert _range(again) == _range(first)
    assert again.count('data-testid="slot-option"') == first.count('data-testid="slot-option"')


def test_pages_cost_the_same_queries(many_days):
    from django.test.utils import CaptureQueriesContext

    _, token, patient = many_days
    client = verified_client(token, patient)
    later_from = (timezone.localdate() + timedelta(days=8)).isoformat()
    with CaptureQueriesContext(db_connection) as first:
        client.get(f"/book/{token}/")
    with CaptureQueriesContext(db_connection) as second:
        client.get(f"/book/{token}/?from={later_from}")
    assert len(first.captured_queries) == len(second.captured_queries)


def test_change_page_pages_too_and_links_to_itself(many_days):
    invite, token, patient = many_days
    client = verified_client(token, patient)
    # A time the sandbox EMIS really has (the extra days exist only in the mirror).
    slot = campaign_offerable_slots(campaign=invite.campaign).exclude(emis_slot_id__startswith="P")[
        0
    ]
    assert client.post(f"/book/{token}/book/", {"slot": slot.pk}).status_code == 302
    page = client.get(f"/book/{token}/change/").content.decode()
    assert f'href="/book/{token}/change/?from=' in page


def _link(page, testid):
    """The href of the pager link `testid` on a slot page, or None."""
    import re

    found = re.search(rf'href="([^"]+)"[^>]*data-testid="{testid}"', page)
    return found.group(1).replace("&amp;", "&") if found else None


def _shown(page):
    """The slot ids on a page, each with the day heading it is under."""
    import re

    shown = []
    for chunk in page.split('class="nhsuk-heading-s hippo-slot-day">')[1:]:
        day = chunk[: chunk.index("<")]
        shown += [
            (day, int(pk)) for pk in re.findall(r'name="slot" type="radio" value="(\d+)"', chunk)
        ]
    return shown


def test_later_links_reach_every_free_time_once_and_earlier_links_come_back(many_days):
    invite, token, patient = many_days
    client = verified_client(token, patient)
    pages = [_first_page(client, token)]
    while (later := _link(pages[-1], "later-times")) is not None:
        assert len(pages) < 10, "the later links go round in circles"
        pages.append(_first_page(client, token, later[later.index("?") :]))
    assert len(pages) == 2
    shown = [_shown(page) for page in pages]
    ids = [pk for page in shown for _, pk in page]
    assert sorted(ids) == sorted(
        campaign_offerable_slots(campaign=invite.campaign).values_list("pk", flat=True)
    )
    # Whole days: no day heading on two pages.
    days = [{day for day, _ in page} for page in shown]
    assert not days[0] & days[1]
    assert _link(pages[0], "earlier-times") is None
    assert _link(pages[-1], "later-times") is None
    assert 'data-testid="slot-pages"' in pages[-1]
    back = _first_page(client, token, _link(pages[-1], "earlier-times").split("/")[-1])
    assert _shown(back) == shown[0]


def test_a_later_link_still_moves_on_after_the_days_before_it_change(many_days):
    """The first page was days 1 to 7; by the time its "Later times" link is
    followed day 1 has gone (its last time passed): the link still shows the days
    after day 7, not the new first page again."""
    from booking.models import Slot

    _, token, patient = many_days
    client = verified_client(token, patient)
    later = _link(_first_page(client, token), "later-times")
    day_8 = timezone.localdate() + timedelta(days=8)
    assert later.endswith(f"?from={day_8.isoformat()}")
    Slot.objects.filter(emis_slot_id__startswith="P1-").delete()
    page = _first_page(client, token, later[later.index("?") :])
    assert f"<strong>{day_8:%A} {day_8.day} {day_8:%B}</strong>" in _range(page)
    assert page.count('data-testid="slot-option"') == 5 * 40


def test_a_past_or_out_of_campaign_from_shows_the_first_page(many_days):
    invite, token, patient = many_days
    client = verified_client(token, patient)
    first = _first_page(client, token)
    today = timezone.localdate()
    end = invite.campaign.end_date
    for value in (today - timedelta(days=1), today, end, end + timedelta(days=1)):
        again = _first_page(client, token, f"?from={value.isoformat()}")
        assert _shown(again) == _shown(first), value
    # Nothing else in the query matters, and a repeated `from` is one value.
    again = _first_page(client, token, "?from=x&from=y&page=3")
    assert _shown(again) == _shown(first)


def test_just_taken_on_a_later_page_shows_the_nearest_times_there(many_days, emis_world):
    from booking.models import Slot

    _, token, patient = many_days
    client = verified_client(token, patient)
    day_8 = (timezone.localdate() + timedelta(days=8)).isoformat()
    # A time on the second page that somebody booked in EMIS a moment ago.
    gone = Slot.objects.get(emis_slot_id="P10-5")
    [in_emis] = emis_world.slots("A10001", [gone.start])
    sandbox.Slot.objects.filter(pk=in_emis.pk).update(status="busy")
    Slot.objects.filter(pk=gone.pk).update(
        emis_slot_id=str(in_emis.pk), location_id=str(in_emis.schedule.site_id)
    )
    response = client.post(f"/book/{token}/book/", {"slot": gone.pk, "from": day_8})
    assert response.status_code == 409
    page = response.content.decode()
    assert "Sorry, that time was just taken" in page
    assert page.count("hippo-slot--suggested") == 3
    assert f'name="from" value="{day_8}"' in page  # the same days as before
    assert _link(page, "earlier-times") is not None
    assert f'value="{gone.pk}"' not in page


def test_page_queries_do_not_grow_with_pages_or_times(many_days, django_assert_max_num_queries):
    from django.test.utils import CaptureQueriesContext

    _, token, patient = many_days
    client = verified_client(token, patient)
    today = timezone.localdate()
    with CaptureQueriesContext(db_connection) as one_day:  # day 12 alone: 40 times
        client.get(f"/book/{token}/?from={(today + timedelta(days=12)).isoformat()}")
    # The first page (285 times over 7 days), the second (200), and a bad `from`.
    for query in ("", f"?from={(today + timedelta(days=8)).isoformat()}", "?from=garbage"):
        with django_assert_max_num_queries(len(one_day.captured_queries)):
            assert client.get(f"/book/{token}/{query}").status_code == 200
