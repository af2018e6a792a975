"""Brokers for the outbox tests: refused (a closed port on 127.0.0.1), hung (a
local TCP server that accepts and never answers), and the real Redis on
127.0.0.1:6379 under a key prefix of its own, with a tiny in-process worker that
takes messages off the queue and runs them as a Celery worker would.

The Celery app reads Django's settings once; these fixtures change its `conf`
(and drop its cached producer pool) for one test and put everything back."""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis
from kombu import pools

from booking import notify
from hippo_pcn.celery import app
from hippo_pcn.outbox.services import outbox_fast_path_resume

REDIS_HOST, REDIS_PORT, REDIS_DB = "127.0.0.1", 6379, 1
_SAVED_KEYS = ("broker_url", "task_always_eager", "broker_transport_options")


def _drop_pool() -> None:
    """Forget every broker connection kept for publishing: Celery's app keeps its
    producer pool, and kombu a registry of pools by connection."""
    app._pool = None
    app.amqp._producer_pool = None
    pools.reset()


@contextmanager
def celery_broker(url: str, **transport_options: Any) -> Iterator[None]:
    """Point the Celery app at `url`, not eager, for the block; restore after."""
    saved = {key: app.conf[key] for key in _SAVED_KEYS}
    _drop_pool()
    app.conf.update(
        broker_url=url, task_always_eager=False, broker_transport_options=transport_options
    )
    outbox_fast_path_resume()
    try:
        yield
    finally:
        _drop_pool()
        app.conf.update(saved)
        outbox_fast_path_resume()


@pytest.fixture
def refused_url() -> str:
    """A port on 127.0.0.1 nothing listens on."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return f"redis://127.0.0.1:{port}/0"


class HungServer:
    """Accepts TCP connections and never answers; closes them all on stop."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.held: list[socket.socket] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except (TimeoutError, OSError):
                continue
            self.held.append(conn)

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=2)
        for conn in self.held:
            conn.close()
        self.listener.close()


@pytest.fixture
def hung_url() -> Iterator[str]:
    server = HungServer()
    try:
        yield f"redis://127.0.0.1:{server.port}/0"
    finally:
        server.stop()


@pytest.fixture
def broken_broker(request, refused_url) -> Iterator[str]:
    """Parametrised by "refused" or "hung": the URL of a broker in that state."""
    if request.param == "refused":
        yield refused_url
        return
    server = HungServer()
    try:
        yield f"redis://127.0.0.1:{server.port}/0"
    finally:
        server.stop()


@dataclass
class Delivered:
    task: str
    args: list[Any]
    kwargs: dict[str, Any]
    task_id: str


@dataclass
class RealBroker:
    """The real Redis, under a key prefix of this test's own."""

    prefix: str
    url: str = f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}"
    delivered: list[Delivered] = field(default_factory=list)

    @contextmanager
    def up(self) -> Iterator[None]:
        with celery_broker(self.url, global_keyprefix=self.prefix, socket_timeout=5):
            yield

    def take(self, *, wait: float = 0.3) -> list[Delivered]:
        """Take every message off the default queue (acknowledged), oldest first."""
        taken: list[Delivered] = []
        with app.connection_for_read() as conn:
            queue = conn.SimpleQueue(app.conf.task_default_queue)
            try:
                while True:
                    try:
                        message = queue.get(timeout=wait)
                    except queue.Empty:
                        break
                    args, kwargs, _ = message.decode()
                    taken.append(
                        Delivered(message.headers["task"], args, kwargs, message.headers["id"])
                    )
                    message.ack()
            finally:
                queue.close()
        self.delivered.extend(taken)
        return taken

    def work(self, *, rounds: int = 10) -> list[Delivered]:
        """Run what is queued, as a worker would, until the queue stays empty (the
        tasks may queue more)."""
        ran: list[Delivered] = []
        for _ in range(rounds):
            batch = self.take()
            if not batch:
                return ran
            for item in batch:
                run(item)
            ran.extend(batch)
        raise AssertionError("The queue never emptied.")

    def clean(self) -> None:
        client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB, socket_timeout=5)
        keys = list(client.scan_iter(match=f"{self.prefix}*", count=500))
        if keys:
            client.delete(*keys)
        client.close()


def run(item: Delivered) -> None:
    """Run one delivered message in this process (a worker's redelivery too)."""
    if item.task not in app.tasks:
        app.loader.import_default_modules()  # what a worker does at start
    app.tasks[item.task].apply(args=item.args, kwargs=item.kwargs, task_id=item.task_id)


@pytest.fixture
def real_broker() -> Iterator[RealBroker]:
    prefix = f"{os.environ.get('TEST_REDIS_PREFIX', '')}outbox-test-{uuid.uuid4().hex[:8]}:"
    broker = RealBroker(prefix=prefix)
    try:
        yield broker
    finally:
        broker.clean()


@pytest.fixture(autouse=True)
def messages_sent() -> Iterator[list[notify.SentMessage]]:
    """booking.notify.outbox: the messages sent in this test."""
    notify.outbox.clear()
    yield notify.outbox
    notify.outbox.clear()


@pytest.fixture(autouse=True)
def fast_path_fresh() -> Iterator[None]:
    outbox_fast_path_resume()
    yield
    outbox_fast_path_resume()


# The booking world (an active campaign at Alpha Surgery, patients, mirrored slots).
from tests.booking.conftest import campaign, mirrored, patients, world_slots  # noqa: E402, F401
