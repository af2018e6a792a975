"""Read one item ahead in a background thread.

The poller alternates between waiting for EMIS (the next page) and waiting for
PostgreSQL (storing this one). `prefetched(pages)` fetches page n+1 while the
caller stores page n, so the two waits overlap. At most one page waits in the
queue (bounded memory); the producer's exceptions reach the caller at the point
where that page would have arrived; when the caller stops early (an error, a lost
lease) the producer is told to stop and is joined before `prefetched` returns.

The producer thread closes its own Django database connections when it ends (an
in-process EMIS, such as the sandbox in the benchmarks, opens one there)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

_DONE = object()
_POLL_SECONDS = 0.1
JOIN_TIMEOUT_SECONDS = 30.0


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def prefetched(items: Iterable[T], *, name: str = "prefetch") -> Iterator[T]:
    """Yield `items` in order, producing the next one in a background thread."""
    handoff: queue.Queue[object] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def put(value: object) -> bool:
        while not stop.is_set():
            try:
                handoff.put(value, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        from django.db import connections

        try:
            for item in items:
                if not put(item):
                    return
            put(_DONE)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, re-raised there
            put(_Failed(exc))
        finally:
            close = getattr(items, "close", None)
            if callable(close):
                close()
            connections.close_all()

    worker = threading.Thread(target=produce, name=name, daemon=True)
    worker.start()
    try:
        while True:
            value = handoff.get()
            if value is _DONE:
                return
            if isinstance(value, _Failed):
                raise value.error
            yield value  # type: ignore[misc]
    finally:
        stop.set()
        worker.join(timeout=JOIN_TIMEOUT_SECONDS)
