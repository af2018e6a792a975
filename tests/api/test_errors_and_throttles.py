"""One error shape (RFC 9457 problem details) for every status the API answers,
never a stack trace; throttles per token and per user with Retry-After; cursor
pagination; and "via API" on every audit entry written under /api/."""

from __future__ import annotations

import logging

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from hippo_pcn.api.models import ApiToken
from hippo_pcn.audit.models import AuditEntry
from hippo_pcn.organisations.models import Organisation
from tests.factories import PracticeFactory

pytestmark = pytest.mark.urls("tests.api.urls_for_tests")

PROBLEM = "application/problem+json"


def expect_problem(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    assert body["type"].startswith("urn:hippo-pcn:problem:")
    assert body["title"] and body["detail"]
    assert "Traceback" not in response.content.decode()
    return body


def test_401_without_credentials_names_the_bearer_scheme(db):
    body = expect_problem(APIClient().get("/api/v1/me/"), 401)
    assert body["title"] == "Not signed in"
    assert "Authorization: Bearer" in body["detail"]
    assert APIClient().get("/api/v1/me/")["WWW-Authenticate"] == 'Bearer realm="api"'


def test_403_for_django_permission_denied(api_client_for, pcn_tracer):
    body = expect_problem(api_client_for(pcn_tracer).get("/api/test/denied/"), 403)
    assert body["title"] == "You cannot do this"


def test_404_hides_whether_the_object_exists(api_client_for, pcn_tracer):
    body = expect_problem(api_client_for(pcn_tracer).get("/api/test/hidden/"), 404)
    assert body["detail"] == "No such record, or it belongs to another organisation."
    assert "Booking" not in body["detail"]


def test_404_for_an_address_outside_the_api_routes(api_client_for, pcn_tracer, client):
    body = expect_problem(api_client_for(pcn_tracer).get("/api/v1/no-such-thing/"), 404)
    assert body["detail"] == "There is no such address in the API."
    page = client.get("/no-such-page/")
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")


def test_405_says_which_method(api_client_for, pcn_tracer):
    body = expect_problem(api_client_for(pcn_tracer).delete("/api/v1/me/"), 405)
    assert body["detail"] == "DELETE is not allowed here."


def test_400_lists_each_fields_messages(api_client_for, pcn_tracer):
    response = api_client_for(pcn_tracer).post(
        "/api/test/validate/", {"name": "too long a name", "tags": ["ok", "much too long"]}
    )
    body = expect_problem(response, 400)
    assert body["type"] == "urn:hippo-pcn:problem:validation"
    assert body["errors"] == {
        "name": ["Ensure this field has no more than 5 characters."],
        "count": ["This field is required."],
        "tags.1": ["Ensure this field has no more than 3 characters."],
    }
    assert body["detail"] == "Check the problems listed in errors."
    one = expect_problem(
        api_client_for(pcn_tracer).post("/api/test/validate/", {"name": "ok", "count": 0}), 400
    )
    assert one["detail"] == "Ensure this value is greater than or equal to 1."


def test_400_for_a_body_that_is_not_json_or_holds_control_characters(api_client_for, pcn_tracer):
    client = api_client_for(pcn_tracer)
    broken = client.post("/api/test/validate/", "{not json", content_type="application/json")
    expect_problem(broken, 400)
    nul = client.post("/api/test/validate/", {"name": "a\x00b", "count": 1})
    assert "control characters" in expect_problem(nul, 400)["detail"]
    query = client.get("/api/v1/me/?q=%00")
    assert "control characters" in expect_problem(query, 400)["detail"]


def test_415_for_a_body_that_is_not_json(api_client_for, pcn_tracer):
    response = api_client_for(pcn_tracer).post(
        "/api/test/validate/", "name=x", content_type="text/plain"
    )
    expect_problem(response, 415)


def test_409_carries_the_services_own_words(api_client_for, pcn_tracer):
    body = expect_problem(api_client_for(pcn_tracer).post("/api/test/conflict/"), 409)
    assert body["title"] == "Already claimed"
    assert body["detail"] == "Someone else claimed this task a moment ago."


def test_500_is_a_problem_that_leaks_nothing_and_is_logged(api_client_for, pcn_tracer, caplog):
    with caplog.at_level(logging.ERROR, logger="hippo_pcn.api"):
        response = api_client_for(pcn_tracer).get("/api/test/boom/")
    body = expect_problem(response, 500)
    assert "9434765919" not in response.content.decode()
    assert "RuntimeError" not in response.content.decode()
    assert body["title"] == "Sorry, there is a problem with the service"
    assert any(record.exc_info or record.exc_text for record in caplog.records)


def test_api_responses_are_not_cached(api_client_for, pcn_tracer):
    response = api_client_for(pcn_tracer).get("/api/v1/me/")
    assert "no-store" in response["Cache-Control"]


def _clear_throttles(user):
    keys = [f"throttle_api_user_user-{user.pk}"]
    keys += [f"throttle_api_token_{pk}" for pk in ApiToken.objects.values_list("pk", flat=True)]
    cache.delete_many(keys)


def test_a_token_over_its_rate_gets_429_with_retry_after(settings, make_api_token, pcn_tracer):
    settings.API_THROTTLE_RATES = {"api_token": "2/min", "api_user": "1000/min"}
    first = APIClient()
    first.credentials(HTTP_AUTHORIZATION=f"Bearer {make_api_token(pcn_tracer, 'One')}")
    second = APIClient()
    second.credentials(HTTP_AUTHORIZATION=f"Bearer {make_api_token(pcn_tracer, 'Two')}")
    _clear_throttles(pcn_tracer)
    assert [first.get("/api/v1/me/").status_code for _ in range(2)] == [200, 200]
    refused = first.get("/api/v1/me/")
    body = expect_problem(refused, 429)
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert body["detail"].startswith("Too many requests. Try again in")
    # The limit is per token: the user's other token still works.
    assert second.get("/api/v1/me/").status_code == 200


def test_a_user_over_their_rate_gets_429_whichever_token_they_use(
    settings, make_api_token, pcn_tracer, practice_staff
):
    settings.API_THROTTLE_RATES = {"api_token": "1000/min", "api_user": "3/min"}
    clients = []
    for name in ("One", "Two"):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_api_token(pcn_tracer, name)}")
        clients.append(client)
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {make_api_token(practice_staff)}")
    _clear_throttles(pcn_tracer)
    _clear_throttles(practice_staff)
    statuses = [clients[i % 2].get("/api/v1/me/").status_code for i in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert int(clients[0].get("/api/v1/me/")["Retry-After"]) >= 1
    # Someone else is not held up.
    assert other.get("/api/v1/me/").status_code == 200


def test_writes_under_the_api_are_audited_via_api(api_client_for, pcn_tracer, client_for):
    response = api_client_for(pcn_tracer).post("/api/test/write/")
    assert response.status_code == 204
    single = AuditEntry.objects.get(action="test.api_write")
    assert single.actor == pcn_tracer
    assert single.details == {"n": 1, "channel": "API"}
    assert AuditEntry.objects.get(action="test.bulk").details == {"channel": "API"}

    # The same write outside /api/ says nothing of the API.
    client_for(pcn_tracer).post("/not-api/write/")
    assert AuditEntry.objects.filter(action="test.api_write").count() == 2
    assert (
        AuditEntry.objects.filter(action="test.api_write")
        .exclude(details__has_key="channel")
        .count()
        == 1
    )


def test_session_writes_need_the_csrf_token(pcn_tracer):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(pcn_tracer)
    assert client.get("/api/v1/me/").status_code == 200
    body = expect_problem(client.post("/api/test/write/"), 403)
    assert "CSRF" in body["detail"]
    assert not AuditEntry.objects.filter(action="test.api_write").exists()


def test_lists_use_cursor_pages(api_client_for, support_user, db):
    for n in range(5):
        PracticeFactory(ods_code=f"Z9{n:04d}", name=f"Zed Surgery {n}")
    client = api_client_for(support_user)
    first = client.get("/api/test/organisations/?page_size=2")
    assert first.status_code == 200
    page = first.json()
    assert len(page["results"]) == 2 and page["previous"] is None and "cursor=" in page["next"]
    second = client.get(page["next"]).json()
    assert {o["id"] for o in second["results"]}.isdisjoint({o["id"] for o in page["results"]})
    everything = client.get("/api/test/organisations/?page_size=1000").json()["results"]
    assert len(everything) == min(Organisation.objects.count(), 200)
    bad = expect_problem(client.get("/api/test/organisations/?cursor=nonsense"), 400)
    assert bad["errors"] == {
        "cursor": ["This page link is not valid. Start again from the first page."]
    }


def test_djangos_own_500_under_the_api_is_a_problem_too(rf):
    from hippo_pcn.api.errors import server_error

    api = server_error(rf.get("/api/v1/me/"))
    assert api.status_code == 500 and api["Content-Type"] == PROBLEM
    assert api.content.decode().count("Sorry, there is a problem with the service") == 1
    page = server_error(rf.get("/booking/"))
    assert page.status_code == 500 and page["Content-Type"].startswith("text/html")
