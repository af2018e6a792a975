#!/usr/bin/env python3
"""Before the test suite: are PostgreSQL and Redis reachable? If not, say which
and how to start it, instead of a wall of tracebacks from every test."""

from __future__ import annotations

import os
import sys
from urllib.parse import urlparse

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/hippo_pcn"
DEFAULT_REDIS = "redis://127.0.0.1:6379/1"


def check_postgres(url: str) -> str | None:
    import psycopg

    parsed = urlparse(url)
    try:
        with psycopg.connect(
            host=parsed.hostname or "127.0.0.1",
            port=parsed.port or 5432,
            user=parsed.username or "postgres",
            password=parsed.password,
            dbname="postgres",
            connect_timeout=3,
        ) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - report any failure in words
        return (
            f"PostgreSQL is not reachable at {parsed.hostname}:{parsed.port or 5432} "
            f"as user {parsed.username or 'postgres'} ({type(exc).__name__}: {exc}).\n"
            "  Start it with: pg_ctlcluster --skip-systemctl-redirect 15 main start\n"
            "  or point TEST_DATABASE_URL at a running server."
        )
    return None


def check_redis(url: str) -> str | None:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        parsed = urlparse(url)
        return (
            f"Redis is not reachable at {parsed.hostname}:{parsed.port or 6379} ({exc}).\n"
            '  Start it with: redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" '
            "--appendonly no\n"
            "  or point TEST_REDIS_URL at a running server."
        )
    finally:
        client.close()
    return None


def main() -> int:
    problems = [
        p
        for p in (
            check_postgres(os.environ.get("TEST_DATABASE_URL", DEFAULT_DB)),
            check_redis(os.environ.get("TEST_REDIS_URL", DEFAULT_REDIS)),
        )
        if p
    ]
    if problems:
        print("The tests need PostgreSQL and Redis, and cannot start:\n", file=sys.stderr)
        for problem in problems:
            print(f"- {problem}", file=sys.stderr)
        return 1
    print("check_services: PostgreSQL and Redis are reachable.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
