"""The poller: finds the appointments made in each live PCN's EMIS Community
through the EMIS Partner API, by sweeping its sessions and diffing their slots
against a snapshot, and keeps the tracing tasks in step.

Where to start: `tracing.tasks.poll_pcn_connection` calls `poll_connection`
(`poll.py`: the run, step by step), whose writes are `poll_changes_store`
(`changes.py`: each kind of change found in EMIS and what it does to the tasks;
a new appointment gets its task in `new_tasks.py`).

- `reading.py`: read EMIS (sessions, then the slots of the changed ones) and diff;
- `diff.py`: the diff, pure functions (no database, no EMIS);
- `patients.py`: NHS numbers and demographics of new patients, cached;
- `writer.py`: changes to known tasks, queued and written at once, audited;
- `new_tasks.py`: new appointments: a booking's own task, or a new task;
- `lease.py`: one poll of a connection at a time;
- `store.py`: the snapshot, the demographics cache, many tasks at once;
- `fastpath.py`: the mechanics that make it fast (binary reads, COPY, the page
  transaction, the fetching threads), none of its rules;
- `sweep.py`: the names of the single module this package replaced."""

from .lease import LeaseLost
from .poll import PollRefused, live_pcn_connections, poll_connection

__all__ = ["LeaseLost", "PollRefused", "live_pcn_connections", "poll_connection"]
