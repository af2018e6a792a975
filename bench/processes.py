"""Processes of their own for the benchmarks: the project served by gunicorn (as
the app, or as the sandbox EMIS another process calls over HTTP) and a Celery
worker with the production pool. Each is a context manager that waits (bounded)
until the process answers and always stops it on the way out.

gunicorn sets TCP_NODELAY on its listening socket (gunicorn/sock.py), so a
response's headers and body are not held back by Nagle's algorithm on a
kept-alive connection; the development server needed that set by hand.

Settings: bench/bench_settings.py; database TEST_DATABASE_URL, Redis
TEST_REDIS_URL (the caller's environment)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
VENV_BIN = Path(sys.executable).parent

# gunicorn for the sandbox EMIS and for the app: a few workers of a few threads
# each (gthread), as a small production web host would run.
WEB_WORKERS = int(os.environ.get("BENCH_WEB_WORKERS", "3"))
WEB_THREADS = int(os.environ.get("BENCH_WEB_THREADS", "4"))
# The Celery worker: the prefork pool production runs (`-c 4`).
WORKER_CONCURRENCY = int(os.environ.get("BENCH_WORKER_CONCURRENCY", "4"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def bench_env(**extra: str) -> dict[str, str]:
    """The environment of a bench process: bench/bench_settings.py, found on the
    path, against the caller's database and Redis."""
    env = os.environ.copy()
    env["DJANGO_SETTINGS_MODULE"] = "bench_settings"
    env["PYTHONPATH"] = os.pathsep.join(
        [str(BENCH), str(ROOT), *filter(None, [env.get("PYTHONPATH", "")])]
    )
    env.update(extra)
    return env


def _stop(process: subprocess.Popen[bytes], grace: float = 20) -> None:
    """SIGTERM (gunicorn and Celery both shut down warmly on it), then SIGKILL."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def _tail(log: IO[bytes]) -> str:
    log.seek(0)
    return log.read()[-3000:].decode(errors="replace")


def _wait_until(
    ready: Callable[[], bool], process: subprocess.Popen[bytes], log: IO[bytes], what: str
) -> None:
    deadline = time.monotonic() + 90
    while not ready():
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited: {_tail(log)}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start within 90 s: {_tail(log)}")
        time.sleep(0.3)


def _answers(port: int) -> bool:
    """Has a gunicorn worker answered an HTTP request (any status)?"""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/healthz")
        conn.getresponse().read()
        return True
    except OSError:
        return False
    finally:
        conn.close()


@contextmanager
def gunicorn_server(
    name: str,
    *,
    workers: int = WEB_WORKERS,
    threads: int = WEB_THREADS,
    env: dict[str, str] | None = None,
) -> Iterator[str]:
    """The project's WSGI application under gunicorn (gthread workers) on a free
    port; yields its base URL once every worker can answer. Run from bench/ so
    that a gunicorn.conf.py at the project root is not picked up: the bench
    names its options here."""
    port = free_port()
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in the finally below
    command = [
        str(VENV_BIN / "gunicorn"),
        "hippo_pcn.wsgi:application",
        f"--bind=127.0.0.1:{port}",
        f"--workers={workers}",
        "--worker-class=gthread",
        f"--threads={threads}",
        "--timeout=120",
        "--graceful-timeout=10",
        "--backlog=2048",
        f"--name=bench-{name}",
    ]
    server = subprocess.Popen(  # noqa: S603 - our own venv's gunicorn, fixed arguments
        command, cwd=BENCH, env=env or bench_env(), stdout=log, stderr=subprocess.STDOUT
    )
    try:
        _wait_until(lambda: _answers(port), server, log, f"gunicorn ({name})")
        # Every worker booted (the first answer comes from whichever is up first).
        for _ in range(workers * 2):
            _answers(port)
        yield f"http://127.0.0.1:{port}"
        if server.poll() is not None:  # the measurements above would have failed first
            print(f"bench: gunicorn ({name}) had stopped before the end: {_tail(log)}", flush=True)
    finally:
        _stop(server)
        log.close()


@contextmanager
def sandbox_server() -> Iterator[str]:
    """The sandbox EMIS in a gunicorn of its own (the project serves it at
    /emis-sandbox/ under the test settings); yields the base URL."""
    with gunicorn_server("sandbox") as url:
        yield url


@contextmanager
def app_server() -> Iterator[str]:
    """hippo-pcn itself in a gunicorn of its own; yields the base URL."""
    with gunicorn_server("app", env=bench_env(BENCH_CELERY_EAGER="1")) as url:
        yield url


def worker_queues() -> list[str]:
    """Every queue a task of the project can be routed to: the default queue,
    the queues of CELERY_TASK_ROUTES, and poll/messages/default in any case."""
    from django.conf import settings

    queues = {getattr(settings, "CELERY_TASK_DEFAULT_QUEUE", "celery") or "celery"}
    queues |= {"default", "poll", "messages"}
    routes = getattr(settings, "CELERY_TASK_ROUTES", None) or {}
    if isinstance(routes, dict):
        for route in routes.values():
            if isinstance(route, dict) and route.get("queue"):
                queues.add(str(route["queue"]))
    return sorted(queues)


@contextmanager
def celery_worker(concurrency: int = WORKER_CONCURRENCY) -> Iterator[None]:
    """A Celery worker, prefork pool of `concurrency` processes, consuming every
    queue of the project, against the bench database and broker; returns once it
    answers a ping."""
    from celery import current_app

    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in the finally below
    node = f"bench-{os.getpid()}@{socket.gethostname()}"
    command = [
        str(VENV_BIN / "celery"),
        "-A",
        "hippo_pcn",
        "worker",
        "--pool=prefork",
        f"--concurrency={concurrency}",
        f"--queues={','.join(worker_queues())}",
        f"--hostname={node}",
        "--loglevel=WARNING",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    worker = subprocess.Popen(  # noqa: S603 - our own venv's celery, fixed arguments
        command, cwd=BENCH, env=bench_env(), stdout=log, stderr=subprocess.STDOUT
    )

    def pong() -> bool:
        try:
            replies = current_app.control.ping(destination=[node], timeout=1.0)
        except Exception:  # noqa: BLE001 - broker not answering yet: try again
            return False
        return bool(replies)

    try:
        _wait_until(pong, worker, log, "celery worker")
        yield
        if worker.poll() is not None:  # a cycle it missed would have timed out first
            print(f"bench: the celery worker had stopped before the end: {_tail(log)}", flush=True)
    finally:
        _stop(worker, grace=30)
        log.close()
