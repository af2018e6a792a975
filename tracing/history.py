"""A tracing task's history in words people read: who did what, when (Europe/London),
from the task's audit entries. And the name staff know a task by: the patient and
the appointment, never the EMIS appointment id."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from hippo_pcn.audit.models import AuditEntry
from hippo_pcn.audit.services import SYSTEM_PREFIX
from hippo_pcn.organisations.models import Organisation

from .models import CannotTraceReason, TaskSource, TracingTask
from .selectors import task_history

# System actors by the name after "system: ", as staff know them.
SYSTEM_NAMES = {
    "poller": "The poller",
    "auto-verify": "Auto-verify",
    "booking": "The booking service",
}


def when_label(value: datetime | None) -> str:
    """A time as staff read it, in Europe/London: "Tue 1 Dec 09:14"."""
    if value is None:
        return "no time"
    local = timezone.localtime(value)
    return f"{local:%a} {local.day} {local:%b %H:%M}"


def tracing_task_title(*, task: TracingTask) -> str:
    """ "Mary SMITH — Tue 3 Dec 10:30 at Alpha Hub": how a task is named in the admin."""
    family = task.patient_family_name.upper()
    name = f"{task.patient_given_name} {family}".strip() or "Patient not yet known"
    site = f" at {task.site_name}" if task.site_name else ""
    return f"{name} — {when_label(task.appointment_start)}{site}"


def user_name(user: Any) -> str:
    """A person's name, or their username when they have none."""
    full = f"{getattr(user, 'first_name', '')} {getattr(user, 'last_name', '')}".strip()
    return full or user.get_username()


@dataclass(frozen=True)
class HistoryLine:
    at: datetime
    sentence: str

    @property
    def when(self) -> str:
        return when_label(self.at)

    @property
    def text(self) -> str:
        return f"{self.sentence}, {self.when}"

    def __str__(self) -> str:
        return self.text


# --- who -------------------------------------------------------------------------------


def _who(entry: AuditEntry) -> str:
    label = entry.actor_label or ""
    if label.startswith(SYSTEM_PREFIX):
        system = label[len(SYSTEM_PREFIX) :]
        return SYSTEM_NAMES.get(system, f"The system ({system.replace('_', ' ')})")
    name = user_name(entry.actor) if entry.actor is not None else (label or "Someone")
    if (entry.details or {}).get("as") == "support":
        return f"Support ({name})"
    return name


def _is_system(entry: AuditEntry) -> bool:
    return (entry.actor_label or "").startswith(SYSTEM_PREFIX)


# --- details in words ------------------------------------------------------------------


def _time(value: Any) -> str:
    if isinstance(value, datetime):
        return when_label(value)
    if isinstance(value, str):
        parsed = parse_datetime(value)
        if parsed is not None:
            if timezone.is_naive(parsed):
                parsed = timezone.make_aware(parsed, UTC)
            return when_label(parsed)
    return ""


def _reason_label(value: Any) -> str:
    if value in CannotTraceReason.values:
        return str(CannotTraceReason(value).label).replace(" (explain)", "")
    return str(value or "").replace("_", " ")


@dataclass
class _Context:
    entry: AuditEntry
    who: str
    details: dict[str, Any]
    owners: dict[str, str]

    def owner(self) -> str:
        code = str(self.details.get("owner") or "")
        return self.owners.get(code, code)

    def due(self) -> str:
        due = _time(self.details.get("due_at"))
        return f", due {due}" if due else ""


def _created(c: _Context) -> str:
    if _is_system(c.entry) and c.entry.actor_label.endswith("poller"):
        text = "The poller found this appointment in EMIS"
    elif c.details.get("source") == TaskSource.FOUND_BY_POLL:
        text = f"{c.who} found this appointment in EMIS"
    else:
        text = f"{c.who} booked this appointment through hippo-pcn"
    owner = c.owner()
    if owner:
        text += f" ({owner} to trace it{c.due()})"
    elif c.due():
        text += f" ({c.due()[2:]})"
    if c.details.get("note"):
        text += ". NHS number not yet known"
    return text


def _cannot_trace(c: _Context) -> str:
    reason = _reason_label(c.details.get("cannot_trace_reason"))
    text = f"{c.who} recorded that the patient cannot be traced"
    if reason:
        text += f": {reason}"
    note = str(c.details.get("cannot_trace_note") or "").strip()
    if note:
        text += f" (“{note}”)"
    return text


def _not_needed(c: _Context) -> str:
    if _is_system(c.entry):
        return f"{c.who} found the patient already registered at the PCN, so no tracing is needed"
    if str(c.details.get("evidence")) == "409":
        return (
            f"{c.who} tried to register the patient at the PCN; they were already "
            "registered there, so no tracing is needed"
        )
    return (
        f"{c.who} checked the PCN's EMIS: the patient is already registered there, "
        "so no tracing is needed"
    )


def _registered(c: _Context) -> str:
    if c.details.get("at_booking"):
        return f"{c.who} registered the patient at the PCN when booking (temporary registration)"
    return f"{c.who} registered the patient at the PCN (temporary registration) and so traced it"


def _verified(c: _Context) -> str:
    registered = c.details.get("registered")
    if _is_system(c.entry):
        found = "registered" if registered else "not registered"
        return f"{c.who} found the patient is {found} at the PCN"
    if registered:
        return f"{c.who} checked the PCN's EMIS: the patient is registered there"
    return f"{c.who} checked the PCN's EMIS: the patient is not registered there yet"


def _redated(c: _Context) -> str:
    before, after = (
        _time(c.details.get("previous_start")),
        _time(c.details.get("appointment_start")),
    )
    subject = "The poller found" if _is_system(c.entry) else f"{c.who} recorded"
    text = f"{subject} the appointment moved in EMIS"
    if before and after:
        text += f" from {before} to {after}"
    elif after:
        text += f" to {after}"
    return text + c.due()


def _reopened(c: _Context) -> str:
    subject = "The poller found" if _is_system(c.entry) else f"{c.who} recorded"
    return f"{subject} the appointment booked again in EMIS, so this is open again{c.due()}"


def _cancelled(c: _Context) -> str:
    if _is_system(c.entry):
        return "The poller found the appointment cancelled in EMIS, so no tracing is needed"
    return f"{c.who} cancelled this: the appointment was cancelled"


def _replanned(c: _Context) -> str:
    owner = c.owner()
    text = f"{c.who} re-planned this under the PCN's tracing policy"
    if owner:
        text += f": {owner} to trace it"
    return text + c.due()


SENTENCES: dict[str, Callable[[_Context], str]] = {
    "tracing_task.created": _created,
    "tracing_task.claimed": lambda c: f"{c.who} claimed this",
    "tracing_task.released": lambda c: f"{c.who} released this",
    "tracing_task.traced": lambda c: f"{c.who} marked this traced",
    "tracing_task.cannot_trace": _cannot_trace,
    "tracing_task.not_needed": _not_needed,
    "tracing_task.registered_at_pcn": _registered,
    "tracing_task.verify_requested": _verified,
    "tracing_task.verified": _verified,
    "tracing_task.redated": _redated,
    "tracing_task.reopened": _reopened,
    "tracing_task.cancelled": _cancelled,
    "tracing_task.replanned": _replanned,
    "tracing_task.identity_mismatch": lambda c: (
        f"{c.who} found this NHS number at the PCN's EMIS with a different date of birth, "
        "so the task stays open for someone to check the patient's identity"
    ),
}


def _fallback(c: _Context) -> str:
    """A code nobody wrote a sentence for yet: words made from its last part
    (`tracing_task.owner_changed` → "owner changed"), never the code itself."""
    words = c.entry.action.rsplit(".", 1)[-1].replace("_", " ").replace("-", " ").strip()
    return f"{c.who}: {words or 'changed this'}"


def _owner_names(entries: Iterable[AuditEntry]) -> dict[str, str]:
    codes = {str(e.details.get("owner")) for e in entries if (e.details or {}).get("owner")}
    if not codes:
        return {}
    return dict(Organisation.objects.filter(ods_code__in=codes).values_list("ods_code", "name"))


def history_line(entry: AuditEntry, *, owners: dict[str, str] | None = None) -> HistoryLine:
    """One audit entry of a task as a sentence and its time."""
    context = _Context(
        entry=entry, who=_who(entry), details=dict(entry.details or {}), owners=owners or {}
    )
    sentence = SENTENCES.get(entry.action, _fallback)(context)
    if context.details.get("channel") == "API":
        sentence += " (through the API)"
    return HistoryLine(at=entry.created_at, sentence=sentence)


def tracing_task_history_lines(*, task: TracingTask) -> list[HistoryLine]:
    """The task's history, oldest first, in plain English with local times."""
    entries = list(task_history(task=task).select_related("actor"))
    owners = _owner_names(entries)
    return [history_line(entry, owners=owners) for entry in entries]
