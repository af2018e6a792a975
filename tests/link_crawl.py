"""A breadth-first crawl of the app's pages through the Django test client, for
tests/test_link_crawl.py: every same-site link on every page reached (and every
form that only navigates, sent as it stands), redirects followed, with whatever
ends in a 403, 404 or 5xx, or sends a signed-in person back to sign in.

Bounded per kind of URL (ids, ODS codes and link tokens collapsed; in the admin,
any filter or sort counts as one kind), so a crawl opens a few of each page
rather than every row of every list."""

from __future__ import annotations

import re
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urldefrag, urlencode, urljoin, urlsplit, urlunsplit

from django.test import Client

# Never followed: static files, signing out, the bundled EMIS (in production an
# outside system) and Django's admin shortcut to an object's public page.
SKIP_PREFIXES = (
    "/static/",
    "/accounts/logout/",
    "/admin/logout/",
    "/emis-sandbox/",
    "/admin/r/",
)
LOGIN_PATHS = ("/accounts/login/", "/admin/login/")
REDIRECTS = (301, 302, 303, 307, 308)
# A link that ends in one of these (or any 5xx) is broken. A 400 is not: a search
# or filter form sent empty shows what to fill in.
BROKEN = (403, 404, 405, 410)
MAX_REDIRECTS = 10

_ODS = re.compile(r"^[A-Z]\d{5}$")
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")

Kind = tuple[str, tuple[str, ...]]


class _Links(HTMLParser):
    """Every link's href, and every GET form as the URL it opens when sent as it
    stands (hidden and text fields as filled, the first choice of each radio
    group and list): a form that only navigates is a link too."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []
        self._form: tuple[str, list[tuple[str, str]]] | None = None
        self._radios: set[str] = set()
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {key: value or "" for key, value in attrs}
        if tag in ("a", "area") and attr.get("href"):
            self.hrefs.append(attr["href"].strip())
        elif tag == "form":
            method = attr.get("method", "get").lower()
            self._form = (attr.get("action", ""), []) if method == "get" else None
            self._radios = set()
        elif self._form is not None:
            self._field(self._form[1], tag, attr)

    def _field(self, fields: list[tuple[str, str]], tag: str, attr: dict[str, str]) -> None:
        name = attr.get("name", "")
        if tag == "input" and name:
            kind = attr.get("type", "text").lower()
            if kind == "radio" and name not in self._radios:
                self._radios.add(name)
                fields.append((name, attr.get("value", "on")))
            elif kind in ("hidden", "text", "search", "number", "date"):
                fields.append((name, attr.get("value", "")))
        elif tag == "select" and name:
            self._select = name
        elif tag == "option" and self._select:
            fields.append((self._select, attr.get("value", "")))
            self._select = None

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "form" and self._form is not None:
            action, fields = self._form
            self.hrefs.append(f"{action.split('?')[0]}?{urlencode(fields)}")
            self._form = None


def links_in(html: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    return parser.hrefs


def url_kind(url: str) -> Kind:
    """The page a URL is an instance of: ids, ODS codes and link tokens collapsed,
    and the names (not values) of its query parameters; in the admin, only
    whether it has any (Django's changelist filters and sorting)."""
    parts = urlsplit(url)
    segments = []
    for segment in parts.path.split("/"):
        if segment.isdigit():
            segments.append("<id>")
        elif _ODS.match(segment):
            segments.append("<ods>")
        elif _TOKEN.match(segment):
            segments.append("<token>")
        else:
            segments.append(segment)
    path = "/".join(segments)
    keys = {key for key, _ in parse_qsl(parts.query, keep_blank_values=True)}
    if path.startswith("/admin/"):
        return path, ("?",) if keys else ()
    return path, tuple(sorted(keys))


@dataclass(frozen=True)
class Finding:
    who: str
    linked_from: str
    url: str
    status: int
    note: str = ""

    def __str__(self) -> str:
        note = f" ({self.note})" if self.note else ""
        return f"{self.who}: {self.url} -> {self.status}{note}, linked from {self.linked_from}"


@dataclass
class Crawl:
    """One person's crawl from some pages: what it opened, and what went wrong."""

    who: str
    client: Client
    hosts: frozenset[str]
    signed_in: bool = True
    max_pages: int = 300
    per_kind: int = 3
    visited: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    # Kinds of page linked but never opened because the crawl reached max_pages.
    unvisited_kinds: set[Kind] = field(default_factory=set)
    _seen: set[str] = field(default_factory=set)
    _kinds: Counter[Kind] = field(default_factory=Counter)

    def same_site(self, href: str, base: str) -> str | None:
        """The link as a path and query, when it is one of ours to follow."""
        if href.startswith("#"):
            return None
        absolute = urljoin(base, urldefrag(href).url)
        parts = urlsplit(absolute)
        if parts.scheme not in ("http", "https") or parts.netloc not in self.hosts:
            return None  # mailto:, tel:, javascript:, another site
        # A change form's way back to its filtered list is the same page.
        query = urlencode(
            [
                (key, value)
                for key, value in parse_qsl(parts.query, keep_blank_values=True)
                if key != "_changelist_filters"
            ]
        )
        path = urlunsplit(("", "", parts.path, query, ""))
        if any(path.startswith(prefix) for prefix in SKIP_PREFIXES):
            return None
        return path

    def _open(self, url: str) -> tuple[list[str], int, str, str]:
        """GET the URL, following same-site redirects: (the URLs passed through,
        the final status, what went wrong if anything, the HTML if any)."""
        chain = [url]
        response = self.client.get(url)
        while response.status_code in REDIRECTS:
            target = self.same_site(response["Location"], f"http://testserver{chain[-1]}")
            if target is None:
                return chain, response.status_code, "", ""  # off to another site
            if len(chain) > MAX_REDIRECTS:
                return chain, response.status_code, "redirects without end", ""
            chain.append(target)
            response = self.client.get(target)
        notes = []
        if len(chain) > 1:
            notes.append(f"after a redirect to {chain[-1]}")
        exc_info = getattr(response, "exc_info", None)
        if exc_info:
            notes.append(f"{exc_info[0].__name__}: {exc_info[1]}")
        html = ""
        if "html" in response.get("Content-Type", "") and not response.streaming:
            html = response.content.decode(response.charset or "utf-8", "replace")
        return chain, response.status_code, "; ".join(notes), html

    def run(self, starts: Iterable[str], *, referrer: str = "(start)") -> Crawl:
        queue: deque[tuple[str, str]] = deque()
        for start in starts:
            path = self.same_site(start, "http://testserver/")
            if path is not None:
                queue.append((path, referrer))
        while queue and len(self.visited) < self.max_pages:
            url, linked_from = queue.popleft()
            kind = url_kind(url)
            if url in self._seen or self._kinds[kind] >= self.per_kind:
                continue
            self._seen.add(url)
            self._kinds[kind] += 1
            self.visited.append(url)
            chain, status, note, html = self._open(url)
            if status in BROKEN or status >= 500 or note == "redirects without end":
                self.findings.append(Finding(self.who, linked_from, url, status, note))
                continue
            if self.signed_in and any(hop.startswith(LOGIN_PATHS) for hop in chain[1:]):
                self.findings.append(
                    Finding(self.who, linked_from, url, status, f"sent to sign in at {chain[-1]}")
                )
                continue
            for href in links_in(html):
                target = self.same_site(href, f"http://testserver{chain[-1]}")
                if target is not None and target not in self._seen:
                    queue.append((target, url))
        self.unvisited_kinds = {url_kind(url) for url, _ in queue} - set(self._kinds)
        return self
