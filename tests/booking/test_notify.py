"""The notifier backends. GOV.UK Notify is exercised through the real
notifications-python-client against a real HTTP server on 127.0.0.1 that answers
like Notify (201, 400, 429, 500, or too slowly); invitations are sent through the
real send task (eager Celery), counting the requests each one cost."""

from __future__ import annotations

import json
import logging
import threading
import time as time_module
import uuid
from collections.abc import Iterator
from datetime import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from booking import invites, notify
from booking.models import Campaign, Invite, MessageSend
from booking.notify import (
    Message,
    NotifyBackend,
    NotifyOutcomeUnknown,
    NotifyPermanentError,
    NotifyTransientError,
)

API_KEY = f"hippo_test-{uuid.uuid4()}-{uuid.uuid4()}"
TEMPLATES = {
    f"{kind}_{channel}": str(uuid.uuid4()) for kind in notify.KINDS for channel in notify.CHANNELS
}
ALL_DAY = {"sending_from": time(0, 0), "sending_until": time(23, 59, 59, 999999)}

BAD_NUMBER = {
    "errors": [{"error": "ValidationError", "message": "phone_number Not a UK mobile number"}],
    "status_code": 400,
}


class FakeNotify:
    """A tiny HTTP server answering POST /v2/notifications/{sms,email} with the
    next scripted answer (the last one repeats): an int status, "slow" (accepted,
    but answered too late) or "saved-500" (accepted, but answered with an error). GET /v2/notifications?reference=... lists the accepted
    notifications with that reference, as Notify does."""

    def __init__(self) -> None:
        self.answers: list[int | str] = [201]
        self.requests: list[dict] = []
        self.accepted: dict[str, str] = {}  # reference -> notification id
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):
                query = parse_qs(urlparse(self.path).query)
                reference = (query.get("reference") or [""])[0]
                found = [
                    {"id": fake.accepted[reference], "reference": reference}
                    for _ in [0]
                    if reference in fake.accepted
                ]
                data = json.dumps({"notifications": found, "links": {}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                fake.requests.append(
                    {"path": self.path, "json": body, "auth": self.headers.get("Authorization", "")}
                )
                answer = fake.answers.pop(0) if len(fake.answers) > 1 else fake.answers[0]
                payload: dict = {"id": str(uuid.uuid4())}
                if answer in (201, "slow", "saved-500") and body.get("reference"):
                    fake.accepted[body["reference"]] = payload["id"]
                if answer == "saved-500":  # saved, then an error: it will go
                    answer = 500
                if answer == "slow":
                    time_module.sleep(1.0)
                    answer = 201
                if answer == 400:
                    payload = BAD_NUMBER
                elif answer == 429:
                    payload = {"errors": [{"error": "RateLimitError", "message": "Exceeded"}]}
                elif answer != 201:
                    payload = {"errors": [{"error": "Exception", "message": "Internal error"}]}
                data = json.dumps(payload).encode()
                try:
                    self.send_response(int(answer))
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeNotify:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_notify(settings) -> Iterator[FakeNotify]:
    with FakeNotify() as fake:
        settings.NOTIFY_BACKEND = "notify"
        settings.NOTIFY_BASE_URL = fake.url
        settings.NOTIFY_API_KEY = API_KEY
        settings.NOTIFY_TEMPLATES = TEMPLATES
        settings.NOTIFY_TIMEOUT_SECONDS = 0.3
        yield fake


def sms(to: str = "+447700900456", kind: str = "invite") -> Message:
    return Message(
        kind=kind,
        channel="sms",
        to=to,
        subject="",
        body="Alpha Surgery: book here http://x/book/abc/",
        personalisation={"link": "http://x/book/abc/"},
        practice_id=1,
        invite_id=1,
        reference="invite-1-invite",
    )


# --- The Notify backend on its own ------------------------------------------------------------


def test_notify_backend_sends_sms_and_email_with_templates(fake_notify):
    backend = NotifyBackend()
    provider_id = backend.send(sms())
    email = Message(**{**sms().__dict__, "channel": "email", "to": "pat@example.org"})
    backend.send(email)

    assert provider_id
    first, second = fake_notify.requests
    assert first["path"] == "/v2/notifications/sms"
    assert first["json"]["phone_number"] == "+447700900456"
    assert first["json"]["template_id"] == TEMPLATES["invite_sms"]
    assert first["json"]["personalisation"]["link"] == "http://x/book/abc/"
    assert "book here" in first["json"]["personalisation"]["message"]
    assert first["json"]["reference"] == "invite-1-invite"
    assert first["auth"].startswith("Bearer ")
    assert second["path"] == "/v2/notifications/email"
    assert second["json"]["email_address"] == "pat@example.org"


@pytest.mark.parametrize(
    ("answer", "error", "words"),
    [
        (400, NotifyPermanentError, "Not a UK mobile number"),
        (403, NotifyPermanentError, "credentials"),
        (429, NotifyTransientError, "busy"),
        (500, NotifyTransientError, "unavailable (error 500)"),
        (503, NotifyTransientError, "unavailable (error 503)"),
        ("slow", NotifyOutcomeUnknown, "did not answer in time"),
    ],
)
def test_notify_errors_are_typed_with_a_plain_reason(fake_notify, answer, error, words):
    fake_notify.answers = [answer]
    with pytest.raises(error) as caught:
        NotifyBackend().send(sms())
    assert words in caught.value.reason


def test_notify_backend_looks_messages_up_by_reference(fake_notify):
    backend = NotifyBackend()
    provider_id = backend.send(sms())
    assert backend.lookup("invite-1-invite") == provider_id
    assert backend.lookup("invite-2-invite") is None


def test_lookup_when_notify_is_unreachable_is_transient(fake_notify):
    fake_notify.server.shutdown()
    fake_notify.server.server_close()
    with pytest.raises(NotifyTransientError, match="whether the message went"):
        NotifyBackend().lookup("invite-1-invite")


def test_locmem_and_file_backends_look_messages_up_by_reference(settings, tmp_path):
    locmem = notify.LocmemBackend()
    notify.outbox.clear()
    provider_id = locmem.send(sms())
    assert locmem.lookup("invite-1-invite") == provider_id
    assert locmem.lookup("invite-9-invite") is None
    notify.outbox.clear()

    file_backend = notify.FileBackend(tmp_path / "messages.jsonl")
    assert file_backend.lookup("invite-1-invite") is None  # no file yet
    provider_id = file_backend.send(sms())
    file_backend.send(Message(**{**sms().__dict__, "reference": "invite-2-invite"}))
    assert file_backend.lookup("invite-1-invite") == provider_id
    assert file_backend.lookup("invite-3-invite") is None


def test_connection_refused_is_transient(settings, fake_notify):
    fake_notify.server.shutdown()
    fake_notify.server.server_close()
    with pytest.raises(NotifyTransientError, match="Could not connect"):
        NotifyBackend().send(sms())


def test_missing_setup_is_a_permanent_error(settings, fake_notify):
    settings.NOTIFY_TEMPLATES = {**TEMPLATES, "reminder_sms": ""}
    with pytest.raises(NotifyPermanentError, match="NOTIFY_TEMPLATE_REMINDER_SMS"):
        NotifyBackend().send(sms(kind="reminder"))
    with pytest.raises(NotifyPermanentError, match="NOTIFY_API_KEY"):
        NotifyBackend(api_key="").send(sms())
    assert fake_notify.requests == []


def test_default_backend_is_file_in_the_demo_and_notify_elsewhere(settings):
    settings.NOTIFY_BACKEND = ""
    settings.DEMO_MODE = True
    assert isinstance(notify.get_backend(), notify.FileBackend)
    settings.DEMO_MODE = False
    assert isinstance(notify.get_backend(), notify.NotifyBackend)


# --- Through the send task: statuses and retries ----------------------------------------------


@pytest.fixture
def worker_retries():
    """Eager Celery re-raises a task's Retry when eager exceptions propagate (the
    test default); a worker retries instead. Let eager tasks retry like a worker
    (without the countdowns) for these tests."""
    from celery import current_app

    before = current_app.conf.task_eager_propagates
    current_app.conf.task_eager_propagates = False
    yield
    current_app.conf.task_eager_propagates = before


@pytest.fixture
def queued(campaign, practice_admin, patients, worker_retries):
    """Two invitations created and queued (their send task not yet run)."""
    Campaign.objects.filter(pk=campaign.pk).update(**ALL_DAY)
    campaign.refresh_from_db()
    invites.invites_create(campaign=campaign, patients=patients[:2], user=practice_admin)
    return list(Invite.objects.filter(campaign=campaign).order_by("pk"))


def run_send(invite_list) -> None:
    from booking.tasks import send_invites

    send_invites.delay([i.pk for i in invite_list])
    for invite in invite_list:
        invite.refresh_from_db()


def test_sent_through_notify(fake_notify, queued):
    run_send(queued)
    assert [i.delivery_status for i in queued] == ["sent", "sent"]
    assert [i.delivery_attempts for i in queued] == [1, 1]
    assert len(fake_notify.requests) == 2
    link = invites.invite_link(queued[0])
    assert link in fake_notify.requests[0]["json"]["personalisation"]["message"]


def test_permanent_failure_is_not_retried(fake_notify, queued):
    fake_notify.answers = [400]
    run_send(queued[:1])
    invite = queued[0]
    assert invite.delivery_status == "failed"
    assert invite.delivery_error == (
        "GOV.UK Notify refused the message: phone_number Not a UK mobile number"
    )
    assert invite.delivery_attempts == 1
    assert len(fake_notify.requests) == 1


def test_transient_failure_is_retried_until_it_goes(fake_notify, queued):
    fake_notify.answers = [500, 500, 201]
    run_send(queued[:1])
    invite = queued[0]
    assert invite.delivery_status == "sent"
    assert invite.delivery_error == ""
    assert invite.delivery_attempts == 3
    assert len(fake_notify.requests) == 3


def test_transient_failure_gives_up_after_the_cap(settings, fake_notify, queued):
    fake_notify.answers = [503]
    run_send(queued[:1])
    invite = queued[0]
    tries = settings.INVITE_SEND_MAX_RETRIES + 1
    assert invite.delivery_status == "failed"
    assert (
        invite.delivery_error
        == f"Gave up after {tries} tries: GOV.UK Notify is unavailable (error 503)."
    )
    assert invite.delivery_attempts == tries
    assert len(fake_notify.requests) == tries


def test_retry_of_a_batch_never_resends_what_was_sent(fake_notify, queued):
    # The first invitation goes; the second meets a 500, so the batch is retried.
    fake_notify.answers = [201, 500, 201]
    run_send(queued)
    assert [i.delivery_status for i in queued] == ["sent", "sent"]
    assert [i.delivery_attempts for i in queued] == [1, 2]
    numbers = [r["json"]["phone_number"] for r in fake_notify.requests]
    assert len(numbers) == 3
    assert numbers.count(queued[0].patient.mobile) >= 1
    sent_refs = [r["json"]["reference"] for r in fake_notify.requests]
    first = MessageSend.objects.get(key=f"invite:{queued[0].pk}")
    assert sent_refs.count(first.reference) == 1
    assert first.status == "sent"
    assert MessageSend.objects.get(key=f"invite:{queued[1].pk}").attempts == 2


def test_an_answer_lost_after_notify_accepted_is_settled_not_resent(fake_notify, queued):
    # Notify accepts the message but answers too late: whether it went is not known,
    # so the retry asks Notify by reference, finds it, and sends nothing again.
    fake_notify.answers = ["slow", 201]
    run_send(queued[:1])
    invite = queued[0]
    assert invite.delivery_status == "sent"
    assert len(fake_notify.requests) == 1
    record = MessageSend.objects.get(key=f"invite:{invite.pk}")
    assert record.status == "sent"
    assert record.provider_id == fake_notify.accepted[record.reference]


# --- The file backend and the demo page -----------------------------------------------------------


def test_file_backend_writes_json_lines_and_logs_no_link(settings, tmp_path, caplog):
    settings.NOTIFY_BACKEND = "file"
    settings.NOTIFY_FILE_PATH = str(tmp_path / "messages.jsonl")
    caplog.set_level(logging.INFO, logger="booking.notify")
    notify.message_send(message=sms())
    notify.message_send(message=sms(to="+447700900999"))

    lines = [json.loads(line) for line in (tmp_path / "messages.jsonl").read_text().splitlines()]
    assert len(lines) == 2
    assert lines[0]["body"].endswith("http://x/book/abc/")
    assert lines[0]["to"] == "+44••• •••456"
    assert "Demo message written: invite by sms for invite 1" in caplog.text
    assert "book/abc" not in caplog.text
    assert "+447700900456" not in caplog.text
    assert len(notify.demo_messages_for_practice(practice_id=1)) == 2
    assert notify.demo_messages_for_practice(practice_id=2) == []


def test_confirmation_is_retried_on_a_transient_failure(
    fake_notify,
    mirrored,
    practice_admin,
    patients,
    worker_retries,
    django_capture_on_commit_callbacks,
):
    from booking import services
    from booking.selectors import campaign_offerable_slots

    Campaign.objects.filter(pk=mirrored.pk).update(**ALL_DAY)
    mirrored.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        invites.invites_create(campaign=mirrored, patients=patients[:1], user=practice_admin)
    invite = Invite.objects.get()
    slot = campaign_offerable_slots(campaign=mirrored).first()
    booking = services.booking_create(
        campaign=mirrored, patient=patients[0], slot=slot, booked_by=None, via="self_book"
    )
    fake_notify.requests.clear()
    fake_notify.answers = [502, 201]
    with django_capture_on_commit_callbacks(execute=True):
        invites.invite_send_confirmation(invite=invite, booking=booking)
    assert len(fake_notify.requests) == 2
    assert fake_notify.requests[-1]["json"]["template_id"] == TEMPLATES["confirmation_sms"]
    assert fake_notify.requests[-1]["json"]["personalisation"]["site_name"] == booking.site_name


def test_an_error_after_notify_saved_the_message_is_settled_not_resent(fake_notify, queued):
    fake_notify.answers = ["saved-500", 201]
    run_send(queued[:1])
    invite = queued[0]
    assert invite.delivery_status == "sent"
    assert len(fake_notify.requests) == 1  # the retry asked Notify first: no second send
