"""Fixed-window rate limits kept in the cache (Redis in production and tests),
so every web process shares the counts."""

from __future__ import annotations

from django.core.cache import cache


def over_limit(*, key: str, limit: int, window_seconds: int) -> bool:
    """Count one hit against `key`; True when the limit is now exceeded."""
    cache_key = f"ratelimit:{key}"
    if cache.add(cache_key, 1, timeout=window_seconds):
        return limit < 1
    try:
        hits = cache.incr(cache_key)
    except ValueError:  # expired between add and incr
        cache.add(cache_key, 1, timeout=window_seconds)
        hits = 1
    return hits > limit


def client_ip(request) -> str:  # type: ignore[no-untyped-def]
    return str(request.META.get("REMOTE_ADDR") or "unknown")
