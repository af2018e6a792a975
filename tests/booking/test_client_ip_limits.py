"""The client's address behind our proxies, and the self-book rate limits keyed on it
(django-ratelimit, counted in the shared Redis).

Counters outlive a test in Redis, so every test uses its own addresses and links,
and a window of a day so that no counter resets half-way through a test."""

import random
import socket
import time
from datetime import timedelta

import pytest
from django.test import Client, RequestFactory
from django.utils import timezone

from booking.selectors import campaign_offerable_slots
from hippo_pcn.client_ip import client_ip
from hippo_pcn.settings import base as shipped

from .test_selfbook import make_invite

PROXY = "10.0.0.1"  # our TLS proxy: every request arrives from it
DAY = 24 * 60 * 60


@pytest.fixture
def invited(mirrored, patients):
    invite, token = make_invite(mirrored, patients[0])
    return invite, token, patients[0]


def _address() -> str:
    """A public address no other test (or earlier run) has used."""
    return "81.{}.{}.{}".format(*(random.randint(1, 254) for _ in range(3)))


def _request(remote_addr: str = PROXY, forwarded_for: str | None = None):
    extra = {"REMOTE_ADDR": remote_addr}
    if forwarded_for is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return RequestFactory().get("/", **extra)


# --- client_ip -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("proxies", "forwarded_for", "expected"),
    [
        # No trusted proxy: the header is the client's word, ignored.
        (0, None, PROXY),
        (0, "81.2.69.160", PROXY),
        # One proxy appends the address it received the request from.
        (1, "81.2.69.160", "81.2.69.160"),
        (1, "6.6.6.6, 81.2.69.160", "81.2.69.160"),  # a hop the client sent itself
        (1, "not-an-ip, 6.6.6.6, 81.2.69.160", "81.2.69.160"),
        (1, "192.168.1.5", "192.168.1.5"),  # a private address is still the client
        (1, "[2a00:1450:4009::1]:443", "2a00:1450:4009::1"),
        # Two proxies: the client is the second address from the right.
        (2, "6.6.6.6, 81.2.69.160, 10.1.1.1", "81.2.69.160"),
        # Missing or too short a header: not through our proxies, so the socket.
        (1, None, PROXY),
        (1, "", PROXY),
        (2, "81.2.69.160", PROXY),
        (1, "0.0.0.0", PROXY),  # noqa: S104 - never a client
    ],
)
def test_client_ip(settings, proxies, forwarded_for, expected):
    settings.TRUSTED_PROXY_COUNT = proxies
    assert client_ip(_request(forwarded_for=forwarded_for)) == expected


def test_client_ip_is_what_axes_gets(settings):
    """django-axes calls AXES_CLIENT_IP_CALLABLE with the request alone."""
    from axes.helpers import get_client_ip_address

    settings.TRUSTED_PROXY_COUNT = 1
    settings.AXES_CLIENT_IP_CALLABLE = "hippo_pcn.client_ip.client_ip"
    request = _request(forwarded_for="6.6.6.6, 81.2.69.160")
    assert get_client_ip_address(request) == "81.2.69.160"


# --- the per-client limit ------------------------------------------------------------


@pytest.fixture
def per_ip_limit_of_3(settings):
    settings.SELFBOOK_RATE_LIMIT_PER_IP = 3
    settings.SELFBOOK_RATE_WINDOW_SECONDS = DAY


def _codes(client: Client, token: str, n: int, **extra) -> list[int]:
    return [client.get(f"/book/{token}/", **extra).status_code for _ in range(n)]


def test_two_patients_behind_one_trusted_proxy_have_their_own_limits(
    invited, settings, per_ip_limit_of_3
):
    _, token, _ = invited
    settings.TRUSTED_PROXY_COUNT = 1
    first = Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=_address())
    second = Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=_address())
    assert _codes(first, token, 4) == [200, 200, 200, 429]
    # Same proxy address, another patient: not limited by the first one's requests.
    assert _codes(second, token, 3) == [200, 200, 200]
    assert _codes(second, token, 1) == [429]


def test_a_client_cannot_dodge_the_limit_with_its_own_forwarded_hop(
    invited, settings, per_ip_limit_of_3
):
    _, token, _ = invited
    settings.TRUSTED_PROXY_COUNT = 1
    client = Client(REMOTE_ADDR=PROXY)
    address = _address()
    # The client sends "X-Forwarded-For: <anything>", our proxy appends its address.
    codes = [
        client.get(f"/book/{token}/", HTTP_X_FORWARDED_FOR=f"{_address()}, {address}").status_code
        for _ in range(5)
    ]
    assert codes == [200, 200, 200, 429, 429]


def test_with_no_trusted_proxy_a_forwarded_for_header_is_ignored(
    invited, settings, per_ip_limit_of_3
):
    _, token, _ = invited
    settings.TRUSTED_PROXY_COUNT = 0
    spoofer = Client(REMOTE_ADDR=_address())
    codes = [
        spoofer.get(f"/book/{token}/", HTTP_X_FORWARDED_FOR=_address()).status_code
        for _ in range(5)
    ]
    assert codes == [200, 200, 200, 429, 429]
    # Another address is counted on its own.
    assert _codes(Client(REMOTE_ADDR=_address()), token, 1) == [200]


def test_the_limit_answers_with_the_friendly_page(invited, settings, per_ip_limit_of_3):
    _, token, _ = invited
    client = Client(REMOTE_ADDR=_address())
    _codes(client, token, 3)
    blocked = client.get(f"/book/{token}/")
    assert blocked.status_code == 429
    assert b"Too many attempts" in blocked.content
    assert b"Wait a few minutes and try again, or contact your practice." in blocked.content
    assert 0 < int(blocked["Retry-After"]) <= DAY


# --- the per-link budget -------------------------------------------------------------


@pytest.fixture
def shipped_limits(settings):
    """The limits as deployed (test settings raise them for the other tests)."""
    settings.SELFBOOK_RATE_LIMIT_PER_IP = shipped.SELFBOOK_RATE_LIMIT_PER_IP
    settings.SELFBOOK_RATE_LIMIT_PER_TOKEN = shipped.SELFBOOK_RATE_LIMIT_PER_TOKEN
    settings.SELFBOOK_RATE_LIMIT_POSTS_PER_TOKEN = shipped.SELFBOOK_RATE_LIMIT_POSTS_PER_TOKEN
    settings.SELFBOOK_RATE_WINDOW_SECONDS = DAY


def _journey(invite, token, patient, client_factory) -> list[tuple[str, str, int]]:
    """A patient books, pages about and checks, comes back later to change the
    time, then cancels: every request, with its status."""
    seen: list[tuple[str, str, int]] = []

    def get(client, url):
        response = client.get(url)
        seen.append(("GET", url, response.status_code))
        return response

    def post(client, url, data):
        response = client.post(url, data)
        seen.append(("POST", url, response.status_code))
        return response

    dob = patient.date_of_birth
    typo = dob - timedelta(days=1)
    start = f"/book/{token}/"
    today = timezone.localdate()
    slots = list(campaign_offerable_slots(campaign=invite.campaign))

    # The first visit: a mistyped date of birth, then the slots, paged about.
    first = client_factory()
    get(first, start)
    post(first, start, {"day": typo.day, "month": typo.month, "year": typo.year})
    post(first, start, {"day": dob.day, "month": dob.month, "year": dob.year})
    get(first, start)
    for days_ahead in (7, 14, 21, 14, 7, 0, 7, 14):  # Later days, ..., Earlier days
        get(first, f"{start}?from={(today + timedelta(days=days_ahead)).isoformat()}")
    # Several days' times, each paged later and back, before choosing.
    for days_ahead in (1, 2, 3, 4, 5, 2):
        day = (today + timedelta(days=days_ahead)).isoformat()
        get(first, f"{start}?step=day&day={day}")
        get(first, f"{start}?day={day}&at=12:00")
        get(first, f"{start}?day={day}&at=09:00")
    post(first, f"{start}book/", {"slot": slots[0].pk, "intent": "book"})
    get(first, f"{start}confirmed/")
    get(first, start)  # checks it once more

    # Another day, another browser: change the time.
    later = client_factory()
    get(later, start)
    post(later, start, {"day": dob.day, "month": dob.month, "year": dob.year})
    get(later, start)
    get(later, f"{start}change/")
    for days_ahead in (7, 14, 7, 0):
        get(later, f"{start}change/?from={(today + timedelta(days=days_ahead)).isoformat()}")
    for days_ahead in (2, 3):
        get(later, f"{start}change/?day={(today + timedelta(days=days_ahead)).isoformat()}")
    post(later, f"{start}book/", {"slot": slots[2].pk})
    get(later, f"{start}confirmed/")

    # And then cancel.
    get(later, f"{start}cancel/")
    post(later, f"{start}cancel/", {})
    return seen


def test_book_change_and_cancel_fit_in_half_the_budget(invited, settings, shipped_limits):
    invite, token, patient = invited
    settings.TRUSTED_PROXY_COUNT = 1
    # Half of every shipped limit: the journey must fit with room to spare.
    settings.SELFBOOK_RATE_LIMIT_PER_IP //= 2
    settings.SELFBOOK_RATE_LIMIT_PER_TOKEN //= 2
    settings.SELFBOOK_RATE_LIMIT_POSTS_PER_TOKEN //= 2
    address = _address()
    seen = _journey(
        invite,
        token,
        patient,
        lambda: Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=address),
    )
    assert not [step for step in seen if step[2] == 429], seen
    assert [code for method, url, code in seen if method == "POST"] == [
        400,
        302,
        302,
        302,
        302,
        200,
    ]
    invite.refresh_from_db()
    assert invite.booking.status == "cancelled"


def test_a_client_reloading_one_link_gets_429(invited, shipped_limits):
    _, token, _ = invited
    client = Client(REMOTE_ADDR=_address())
    limit = shipped.SELFBOOK_RATE_LIMIT_PER_TOKEN
    codes = _codes(client, token, limit + 2)
    assert codes[:limit] == [200] * limit
    assert codes[limit:] == [429, 429]


def test_a_client_posting_over_and_over_to_one_link_gets_429(invited, shipped_limits):
    _, token, patient = invited
    # Each from its own address, so only the per-link budget is in play.
    dob = patient.date_of_birth
    verified = Client(REMOTE_ADDR=_address())
    assert (
        verified.post(
            f"/book/{token}/", {"day": dob.day, "month": dob.month, "year": dob.year}
        ).status_code
        == 302
    )
    limit = shipped.SELFBOOK_RATE_LIMIT_POSTS_PER_TOKEN
    codes = [verified.post(f"/book/{token}/book/", {}).status_code for _ in range(limit)]
    assert codes[: limit - 1] == [400] * (limit - 1)  # no time chosen
    assert codes[limit - 1 :] == [429]
    # Page views of the link have their own, larger budget.
    assert verified.get(f"/book/{token}/").status_code == 200


def test_another_link_is_not_limited_by_one_being_hammered(invited, mirrored, patients, settings):
    _, token, _ = invited
    _, other_token = make_invite(mirrored, patients[1])
    settings.SELFBOOK_RATE_LIMIT_PER_TOKEN = 2
    settings.SELFBOOK_RATE_WINDOW_SECONDS = DAY
    assert _codes(Client(REMOTE_ADDR=_address()), token, 3) == [200, 200, 429]
    assert _codes(Client(REMOTE_ADDR=_address()), other_token, 1) == [200]


# --- when Redis fails --------------------------------------------------------------


def _redis_cache(settings, location: str) -> None:
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": location,
            "KEY_PREFIX": "hippo-test-unreachable",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }


def _timed_get(url: str) -> tuple[int, float]:
    started = time.monotonic()
    response = Client(REMOTE_ADDR=_address()).get(url)
    return response.status_code, time.monotonic() - started


def test_the_pages_still_answer_when_redis_is_down(invited, settings, caplog):
    _, token, _ = invited
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    _redis_cache(settings, f"redis://127.0.0.1:{port}/0")
    code, seconds = _timed_get(f"/book/{token}/")
    assert code == 200  # the date-of-birth page: the lockout in the database still guards
    assert seconds < 2
    assert "self-book rate limits unavailable" in caplog.text


def test_the_pages_still_answer_when_redis_hangs(invited, settings, caplog):
    _, token, _ = invited
    with socket.socket() as hung:  # accepts connections (the kernel does) and never answers
        hung.bind(("127.0.0.1", 0))
        hung.listen(16)
        _redis_cache(settings, f"redis://127.0.0.1:{hung.getsockname()[1]}/0")
        code, seconds = _timed_get(f"/book/{token}/")
    assert code == 200
    assert 0.4 < seconds < 2  # waited for the socket timeout, and no longer
    assert "TimeoutError" in caplog.text
