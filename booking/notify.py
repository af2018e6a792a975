"""Sending text messages and emails to patients, through a backend chosen by the
NOTIFY_BACKEND setting:

* ``file``: the demo's. Appends one JSON line per message to NOTIFY_FILE_PATH
  (var/messages.jsonl) for the "Demo messages" staff page, and logs a one-line
  summary naming the message by kind, channel and invite id, never the link or the
  patient.
* ``locmem``: the tests'. Keeps messages in the module-level ``outbox`` list.
* ``notify``: GOV.UK Notify through ``notifications_python_client``. The API key
  and the template ids come from the environment (NOTIFY_API_KEY,
  NOTIFY_TEMPLATE_<KIND>_<CHANNEL>). Each template receives the personalisation
  fields ``practice_name``, ``appointment_type``, ``link`` and, by kind,
  ``expires`` (invite, reminder) or ``when``, ``site_name``, ``site_address``
  (confirmation, change of time, cancellation); ``message`` holds the whole text
  we would send, for templates that are just ``((message))``.

With NOTIFY_BACKEND unset, the demo (DEMO_MODE) uses the file backend and every
other environment GOV.UK Notify: links are never written to disk by accident.

Every message carries a ``reference`` unique to it, and every backend can look a
message up by it (``lookup``): a send task that finds its message marked "sending"
(its worker died mid-send) asks before sending again (booking/invites/).

Failures are typed: ``NotifyTransientError`` (5xx, 429, timeouts, connection
errors: worth retrying) and ``NotifyPermanentError`` (4xx such as an invalid
phone number: retrying cannot help), each with a plain ``reason`` for staff.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import requests
from django.conf import settings
from django.utils import timezone
from notifications_python_client.errors import APIError, HTTPError
from notifications_python_client.notifications import NotificationsAPIClient

logger = logging.getLogger(__name__)

KINDS = ("invite", "reminder", "confirmation", "change", "cancellation")
CHANNELS = ("sms", "email")
REASON_MAX_LENGTH = 300


# --- Messages and errors ------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    """One message to one patient. ``to`` is the phone number or email address;
    ``body`` the full text (it holds the link); ``personalisation`` the fields for
    GOV.UK Notify's template."""

    kind: str
    channel: str
    to: str
    subject: str
    body: str
    personalisation: dict[str, str]
    practice_id: int
    invite_id: int
    reference: str = ""

    def summary(self) -> str:
        """For logs: no link, no recipient, no patient data."""
        return f"{self.kind} by {self.channel} for invite {self.invite_id}"


@dataclass(frozen=True)
class SentMessage:
    message: Message
    provider_id: str
    sent_at: datetime = field(default_factory=timezone.now)


class NotifyError(Exception):
    """A message was not sent. ``reason`` is in words staff understand."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason[:REASON_MAX_LENGTH]


class NotifyTransientError(NotifyError):
    """Worth retrying later: the service was down, busy or slow."""


class NotifyPermanentError(NotifyError):
    """Retrying cannot help: a bad number or address, or a setup problem."""


class NotifyOutcomeUnknown(NotifyTransientError):
    """The message may or may not have been sent (no answer after it went, or an
    answer that could not be read): look it up by its reference before sending again."""


class Backend(Protocol):
    def send(self, message: Message) -> str:
        """Send the message; return the provider's id for it."""

    def lookup(self, reference: str) -> str | None:
        """The provider's id of the message sent with this reference, or None if
        the provider has none. Raises NotifyTransientError when it cannot tell."""


# --- Backends -------------------------------------------------------------------------------

outbox: list[SentMessage] = []
_file_lock = threading.Lock()


class LocmemBackend:
    """Tests: messages are appended to ``booking.notify.outbox``."""

    def send(self, message: Message) -> str:
        provider_id = str(uuid.uuid4())
        outbox.append(SentMessage(message, provider_id))
        return provider_id

    def lookup(self, reference: str) -> str | None:
        for sent in outbox:
            if reference and sent.message.reference == reference:
                return sent.provider_id
        return None


def _mask(channel: str, to: str) -> str:
    if channel == "sms":
        return f"{to[:3]}••• •••{to[-3:]}" if len(to) > 6 else "•••"
    name, _, domain = to.partition("@")
    return f"{name[:1]}•••@{domain}" if domain else "•••"


class FileBackend:
    """Demo: one JSON line per message in NOTIFY_FILE_PATH. The recipient is kept
    masked; the body (with its link) is kept, since the demo has no phones."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path or settings.NOTIFY_FILE_PATH)

    def send(self, message: Message) -> str:
        provider_id = str(uuid.uuid4())
        line = {
            "id": provider_id,
            "at": timezone.now().isoformat(),
            "kind": message.kind,
            "channel": message.channel,
            "to": _mask(message.channel, message.to),
            "subject": message.subject,
            "body": message.body,
            "practice_id": message.practice_id,
            "invite_id": message.invite_id,
            "reference": message.reference,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _file_lock, self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(line) + "\n")
        logger.info("Demo message written: %s", message.summary())
        return provider_id

    def lookup(self, reference: str) -> str | None:
        if not reference or not self.path.exists():
            return None
        with _file_lock, self.path.open(encoding="utf-8") as lines:
            for line in lines:
                if reference not in line:
                    continue
                try:
                    item = json.loads(line)
                except ValueError:
                    continue
                if item.get("reference") == reference:
                    return str(item.get("id", ""))
        return None


def _plain_reason(error: APIError) -> str:
    """Notify's error body is {"errors": [{"error": ..., "message": ...}], ...}."""
    detail = error.message
    if isinstance(detail, list):
        parts = [str(item.get("message", "")) for item in detail if isinstance(item, dict)]
        detail = "; ".join(p for p in parts if p)
    return str(detail or "no reason given")


class NotifyBackend:
    """GOV.UK Notify. One client per backend; each call is bounded by
    NOTIFY_TIMEOUT_SECONDS."""

    def __init__(self, *, api_key: str | None = None, base_url: str | None = None) -> None:
        self.api_key = settings.NOTIFY_API_KEY if api_key is None else api_key
        self.base_url = base_url or settings.NOTIFY_BASE_URL
        self._client: NotificationsAPIClient | None = None

    def client(self) -> NotificationsAPIClient:
        if self._client is None:
            if len(self.api_key) < 74:
                raise NotifyPermanentError(
                    "GOV.UK Notify is not set up: NOTIFY_API_KEY is missing or not a Notify "
                    "API key."
                )
            self._client = NotificationsAPIClient(
                self.api_key, base_url=self.base_url, timeout=settings.NOTIFY_TIMEOUT_SECONDS
            )
        return self._client

    def template_id(self, message: Message) -> str:
        template = settings.NOTIFY_TEMPLATES.get(f"{message.kind}_{message.channel}", "")
        if not template:
            name = f"NOTIFY_TEMPLATE_{message.kind.upper()}_{message.channel.upper()}"
            raise NotifyPermanentError(f"GOV.UK Notify is not set up: {name} is missing.")
        return str(template)

    def send(self, message: Message) -> str:
        template_id = self.template_id(message)
        client = self.client()
        personalisation = {**message.personalisation, "message": message.body}
        try:
            if message.channel == "sms":
                response = client.send_sms_notification(
                    phone_number=message.to,
                    template_id=template_id,
                    personalisation=personalisation,
                    reference=message.reference or None,
                )
            else:
                response = client.send_email_notification(
                    email_address=message.to,
                    template_id=template_id,
                    personalisation=personalisation,
                    reference=message.reference or None,
                )
        except HTTPError as exc:
            raise _classify(exc) from exc
        except APIError as exc:  # a 2xx answer that is not JSON: it may have been sent
            raise NotifyOutcomeUnknown(
                "GOV.UK Notify gave an answer that could not be read; whether the message "
                "went is checked before it is sent again."
            ) from exc
        except requests.RequestException as exc:
            if isinstance(exc, requests.Timeout) and not isinstance(exc, requests.ConnectTimeout):
                raise NotifyOutcomeUnknown("GOV.UK Notify did not answer in time.") from exc
            raise NotifyTransientError(
                f"Could not reach GOV.UK Notify: {type(exc).__name__}"
            ) from exc
        return str((response or {}).get("id", ""))

    def lookup(self, reference: str) -> str | None:
        """GOV.UK Notify's notifications with this reference (we send one per
        reference): its id, or None."""
        if not reference:
            return None
        try:
            response = self.client().get_all_notifications(reference=reference)
        except HTTPError as exc:
            error = _classify(exc)
            raise NotifyTransientError(
                f"Could not ask GOV.UK Notify whether the message went: {error.reason}"
            ) from exc
        except (APIError, requests.RequestException) as exc:
            raise NotifyTransientError(
                f"Could not ask GOV.UK Notify whether the message went: {type(exc).__name__}"
            ) from exc
        found = (response or {}).get("notifications") or []
        return str(found[0].get("id", "")) if found else None


def _classify(exc: HTTPError) -> NotifyError:
    cause = exc.__cause__
    if exc.response is None:
        if isinstance(cause, requests.ConnectTimeout):
            return NotifyTransientError("Could not connect to GOV.UK Notify in time.")
        if isinstance(cause, requests.Timeout):
            # The request went: Notify may have accepted it.
            return NotifyOutcomeUnknown("GOV.UK Notify did not answer in time.")
        return NotifyTransientError("Could not connect to GOV.UK Notify.")
    status = exc.status_code
    if status == 429:
        return NotifyTransientError("GOV.UK Notify is busy (too many requests); will try again.")
    if status >= 500:
        return NotifyTransientError(f"GOV.UK Notify is unavailable (error {status}).")
    if status in (401, 403):
        return NotifyPermanentError(
            f"GOV.UK Notify refused our credentials (error {status}): {_plain_reason(exc)}"
        )
    return NotifyPermanentError(f"GOV.UK Notify refused the message: {_plain_reason(exc)}")


_BACKENDS: dict[str, type[Any]] = {
    "file": FileBackend,
    "locmem": LocmemBackend,
    "notify": NotifyBackend,
}


def backend_name() -> str:
    configured = (getattr(settings, "NOTIFY_BACKEND", "") or "").strip().lower()
    if configured:
        return configured
    return "file" if settings.DEMO_MODE else "notify"


def get_backend() -> Backend:
    name = backend_name()
    if name not in _BACKENDS:
        raise NotifyPermanentError(f"Unknown NOTIFY_BACKEND “{name}”.")
    backend: Backend = _BACKENDS[name]()
    return backend


def message_send(*, message: Message, backend: Backend | None = None) -> str:
    """Send one message; raise NotifyTransientError or NotifyPermanentError."""
    if message.kind not in KINDS or message.channel not in CHANNELS:
        raise NotifyPermanentError(f"Unknown message {message.kind} by {message.channel}.")
    if not message.to:
        raise NotifyPermanentError(
            "No mobile number or email address to send to."
            if message.channel == "sms"
            else "No email address to send to."
        )
    return (backend or get_backend()).send(message)


# --- The demo's message list -------------------------------------------------------------------


def demo_messages_for_practice(*, practice_id: int, limit: int = 200) -> list[dict[str, Any]]:
    """The newest demo messages of one practice from the file backend's file."""
    path = Path(settings.NOTIFY_FILE_PATH)
    if not path.exists():
        return []
    found: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            try:
                item = json.loads(line)
            except ValueError:
                continue
            if item.get("practice_id") == practice_id:
                found.append(item)
                if len(found) > limit * 2:
                    del found[:limit]
    newest = found[-limit:][::-1]
    for item in newest:
        try:
            item["at"] = timezone.localtime(datetime.fromisoformat(item["at"]))
        except (KeyError, TypeError, ValueError):
            item["at"] = None
    return newest
