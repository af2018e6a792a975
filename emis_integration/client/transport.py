"""The HTTP plumbing both EMIS clients share (GP Connect for booking, the Partner
API for finding appointments): an httpx client with connect and read timeouts,
network failures turned into `EmisUnavailable`, and the retry loop with capped
exponential backoff that honours `Retry-After`.

What a status code means is each interface's own business (their error bodies
differ), so `_raise_for` stays in each client."""

from __future__ import annotations

import functools
import logging
import os
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from .errors import EmisUnavailable

logger = logging.getLogger(__name__)

MAX_RETRY_SLEEP = 5.0

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class TlsConfig:
    """How the EMIS clients do TLS. `ca_bundle`: a PEM file of the CAs to trust
    (EMIS_CA_BUNDLE: the NHS's, for an EMIS reached through Spine or HSCN), or ""
    for the public CAs (certifi, as httpx trusts by default). `client_cert` and
    `client_key`: hippo-pcn's own endpoint certificate and its key (PEM files;
    the key may sit in the certificate's file), presented when EMIS asks for
    one: mutual TLS, as GP Connect over Spine authenticates the consumer.
    `key_password` unlocks an encrypted key (never prompted for: a process
    without a terminal would wait for ever)."""

    ca_bundle: str = ""
    client_cert: str = ""
    client_key: str = ""
    key_password: str = field(default="", repr=False)


def tls_context(config: TlsConfig | None = None) -> ssl.SSLContext:
    """The TLS context every EMIS client of this process shares for `config` (by
    default the public CAs and no client certificate): certificates and host
    names always verified. Loading a CA bundle takes ~20 ms, longer than a whole
    poll of an unchanged PCN, so it is loaded once per process, not per client,
    and again only when one of its files changes (a renewed certificate is used
    from the next client on, without a restart)."""
    config = TlsConfig() if config is None else config
    return _tls_context(config, _file_stamps(config))


def _file_stamps(config: TlsConfig) -> tuple[int, ...]:
    stamps = []
    for path in (config.ca_bundle, config.client_cert, config.client_key):
        try:
            stamps.append(os.stat(path).st_mtime_ns if path else 0)
        except OSError:
            stamps.append(-1)
    return tuple(stamps)


@functools.lru_cache(maxsize=4)
def _tls_context(config: TlsConfig, stamps: tuple[int, ...]) -> ssl.SSLContext:
    if config.ca_bundle:
        context = ssl.create_default_context(cafile=config.ca_bundle)
    else:
        context = httpx.create_ssl_context()
    if config.client_cert:
        context.load_cert_chain(
            config.client_cert,
            config.client_key or None,
            password=lambda: config.key_password.encode(),
        )
    return context


def http_client(
    *,
    connect_timeout: float,
    read_timeout: float,
    transport: httpx.BaseTransport | None,
    tls: TlsConfig | None = None,
) -> httpx.Client:
    """An httpx client whose every phase has a timeout; redirects are not followed
    (an EMIS endpoint that redirects is misconfigured, and would carry our
    credentials somewhere else)."""
    timeout = httpx.Timeout(
        connect=connect_timeout, read=read_timeout, write=read_timeout, pool=connect_timeout
    )
    return httpx.Client(
        timeout=timeout,
        transport=transport,
        follow_redirects=False,
        verify=tls_context(tls),
    )


def host_of(url: str) -> str:
    return urlsplit(url).netloc or "EMIS"


def send(
    http: httpx.Client,
    method: str,
    url: str,
    *,
    connect_timeout: float,
    read_timeout: float,
    **kwargs: Any,
) -> httpx.Response:
    """One HTTP request. Timeouts, refused connections and other network
    failures become `EmisUnavailable` with a message in plain words; `spine_code`
    says which ("CONNECT": nothing reached EMIS; "TIMEOUT": it may have)."""
    host = host_of(url)
    try:
        return http.request(method, url, **kwargs)
    except httpx.ConnectTimeout as exc:
        raise EmisUnavailable(
            f"Could not connect to {host} within {connect_timeout:g} seconds.",
            spine_code="CONNECT",
        ) from exc
    except httpx.TimeoutException as exc:
        raise EmisUnavailable(
            f"EMIS at {host} did not answer within {read_timeout:g} seconds.",
            spine_code="TIMEOUT",
        ) from exc
    except httpx.ConnectError as exc:
        tls = _tls_failure(exc, host)
        if tls is not None:
            raise EmisUnavailable(tls, spine_code="CONNECT") from exc
        raise EmisUnavailable(
            f"Could not connect to {host}: the connection was refused or the host was not "
            "found. Check the base URL.",
            spine_code="CONNECT",
        ) from exc
    except httpx.HTTPError as exc:
        tls = _tls_failure(exc, host)
        if tls is not None:
            # Past the handshake (TLS 1.3 says a missing client certificate then):
            # the request was sent, so EMIS may have seen it ("NETWORK").
            raise EmisUnavailable(tls, spine_code="NETWORK") from exc
        raise EmisUnavailable(
            f"The connection to {host} failed ({type(exc).__name__}).", spine_code="NETWORK"
        ) from exc


def _tls_failure(exc: BaseException, host: str) -> str | None:
    """What went wrong setting up TLS with `host`, in plain words, when that is
    why the connection failed (None otherwise)."""
    seen: BaseException | None = exc
    for _ in range(10):  # the chain of causes, however it was built
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLCertVerificationError):
            reason = seen.verify_message or seen.reason or "not trusted"
            return (
                f"Could not connect to {host} securely: its certificate could not be "
                f"verified ({reason}). Check the base URL, and EMIS_CA_BUNDLE if this "
                "EMIS is reached through a private CA."
            )
        if isinstance(seen, ssl.SSLError) and "CERTIFICATE_REQUIRED" in str(seen.reason):
            return (
                f"Could not connect to {host} securely: EMIS asked for hippo-pcn's own "
                "certificate (mutual TLS) and none was accepted. Set EMIS_CLIENT_CERT "
                "(and EMIS_CLIENT_KEY) to hippo-pcn's endpoint certificate."
            )
        if isinstance(seen, ssl.SSLError):
            return (
                f"Could not connect to {host} securely: the TLS handshake failed "
                f"({seen.reason or type(seen).__name__}). Check that the base URL is "
                "EMIS's https address."
            )
        seen = seen.__cause__ or seen.__context__
    return None


def not_supported(call: str, host: str) -> str:
    """The words for HTTP 501 (or a "not implemented / not supported" error): a
    call this provider does not offer. A fact, not an outage: never retried."""
    return f"EMIS does not support this call ({call}) at {host}"


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header: a number of seconds or an
    HTTP date. None when absent or unreadable."""
    value = (value or "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def retry_delay(exc: EmisUnavailable, *, attempt: int, backoff: float) -> float:
    """Exponential backoff from `backoff` seconds, or what the server asked for
    with Retry-After; never more than MAX_RETRY_SLEEP."""
    if exc.retry_after is not None:
        return min(exc.retry_after, MAX_RETRY_SLEEP)
    return min(backoff * (2 ** (attempt - 1)), MAX_RETRY_SLEEP)


def with_retries(
    attempt: Callable[[], T],
    *,
    max_retries: int,
    backoff: float,
    label: str,
    retryable: Callable[[EmisUnavailable], bool] = lambda exc: True,
) -> T:
    """Call `attempt` until it succeeds, retrying `EmisUnavailable` (and only
    that) up to `max_retries` times when `retryable(exc)` allows it."""
    tries = 0
    while True:
        tries += 1
        try:
            return attempt()
        except EmisUnavailable as exc:
            if tries > max_retries or not retryable(exc):
                raise
            delay = retry_delay(exc, attempt=tries, backoff=backoff)
            logger.warning(
                "EMIS %s unavailable (%s), retry %d/%d in %.2fs",
                label,
                exc.status_code or exc.spine_code,
                tries,
                max_retries,
                delay,
            )
            time.sleep(delay)
