"""The poller's names as the single module that held them exported them; they
live by step now (see `tracing/poller/__init__.py` for the map) and stay
importable from here, so `from tracing.poller.sweep import Lease` works as
before."""

from .changes import poll_changes_store
from .lease import Lease, LeaseLost, lease_span, runs_abandoned_fail
from .new_tasks import NHS_NUMBER_UNKNOWN
from .patients import Resolved
from .poll import PollRefused, live_pcn_connections, poll_connection
from .reading import SlotDetails, Sweep
from .writer import POLLER, Outcome

__all__ = [
    "NHS_NUMBER_UNKNOWN",
    "POLLER",
    "Lease",
    "LeaseLost",
    "Outcome",
    "PollRefused",
    "Resolved",
    "SlotDetails",
    "Sweep",
    "lease_span",
    "live_pcn_connections",
    "poll_changes_store",
    "poll_connection",
    "runs_abandoned_fail",
]
