"""The channel a change came through, for the audit log: set for a whole request
(hippo_pcn.api.middleware sets "API" for every request under /api/) and added by
`audit_record` and `audit_bulk_append` to each entry's details as "channel"."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_channel: ContextVar[str | None] = ContextVar("hippo_audit_channel", default=None)


@contextmanager
def audit_channel(channel: str) -> Iterator[None]:
    """Within this block, audit entries record details["channel"] = channel."""
    token = _channel.set(channel)
    try:
        yield
    finally:
        _channel.reset(token)


def current_audit_channel() -> str | None:
    return _channel.get()
