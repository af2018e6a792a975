"""What the worklist's pages share: status badge colours and local times."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from ..models import TaskStatus

# Badge colour classes (static/css/admin.css: no inline styles under the CSP).
STATUS_COLOURS = {
    TaskStatus.OPEN: "blue",
    TaskStatus.CLAIMED: "purple",
    TaskStatus.TRACED: "green",
    TaskStatus.CANNOT_TRACE: "red",
    TaskStatus.NOT_NEEDED: "grey",
    TaskStatus.CANCELLED: "pale-grey",
}


def _local(value: datetime | None) -> str:
    if value is None:
        return "–"
    return f"{timezone.localtime(value):%a %d %b %H:%M}"
