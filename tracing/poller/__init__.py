"""The poller: finds the appointments made in each live PCN's EMIS Community
through the EMIS Partner API, by sweeping its sessions and diffing their slots
against a snapshot (`diff.py`, pure), and keeps the tracing tasks in step
(`sweep.py`), through a small fast database path (`store.py`)."""

from .sweep import LeaseLost, PollRefused, live_pcn_connections, poll_connection

__all__ = ["LeaseLost", "PollRefused", "live_pcn_connections", "poll_connection"]
