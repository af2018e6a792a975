"""The admin index's tracing panels (registered in tracing/apps.py): a row per
PCN the user can see, with its open, overdue and traced-today counts.

The figures come from selectors.tracing_dashboard, several queries a PCN, and
the index is the page staff land on after every save, so each user's panels are
kept for a minute (INDEX_PANELS_CACHE_SECONDS, the Django cache: Redis) and the
panel says when they were counted. The links go to the worklist, which is
always live."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from django.core.cache import cache
from django.http import HttpRequest
from django.utils import timezone
from redis.exceptions import RedisError

from hippo_pcn.organisations.selectors import user_has_staff_access

from .. import selectors

logger = logging.getLogger(__name__)

INDEX_TRACING_PANELS = 6
INDEX_PANELS_CACHE_SECONDS = 60


def index_panels_cache_key(*, user: Any, pcn_ids: list[int]) -> str:
    """One entry per user and the PCNs they see now: a change of membership is a
    new key, so nobody is shown figures for a PCN they no longer see. The date
    the account was made keeps a reused id (a restored database) apart."""
    joined = getattr(user, "date_joined", None)
    account = f"{user.pk}-{joined.timestamp() if joined else 0}"
    pcns = hashlib.blake2b(",".join(map(str, sorted(pcn_ids))).encode(), digest_size=16)
    return f"tracing:index-panels:v1:{account}:{pcns.hexdigest()}"


def _panels(request: HttpRequest, pcn_count: int) -> dict[str, Any]:
    """Only the first few PCNs' panels are computed (support can see hundreds),
    over the last 7 days."""
    panels = selectors.tracing_dashboard(user=request.user, days=7, limit=INDEX_TRACING_PANELS)
    return {
        "tracing_panels": panels,
        "tracing_panels_more": max(pcn_count - len(panels), 0),
        "tracing_panels_as_of": timezone.now(),
    }


def tracing_index_panels(request: HttpRequest) -> dict[str, Any]:
    """A panel per PCN the user can see on the admin index, counted at most once a
    minute for each user."""
    if not user_has_staff_access(user=request.user):
        return {"tracing_panels": [], "tracing_panels_more": 0, "tracing_panels_as_of": None}
    pcn_ids = list(selectors.pcns_for_user(user=request.user).values_list("pk", flat=True))
    if not pcn_ids:
        return {"tracing_panels": [], "tracing_panels_more": 0, "tracing_panels_as_of": None}
    key = index_panels_cache_key(user=request.user, pcn_ids=pcn_ids)
    try:
        cached = cache.get(key)
    except RedisError:
        # The cache did not answer: count live rather than fail the index.
        logger.warning("admin index: the cache did not answer; tracing panels counted live")
        return _panels(request, len(pcn_ids))
    if cached is not None:
        return dict(cached)
    context = _panels(request, len(pcn_ids))
    try:
        cache.set(key, context, INDEX_PANELS_CACHE_SECONDS)
    except RedisError:
        logger.warning("admin index: the cache did not answer; tracing panels not kept")
    return context
