"""The browser policy: every response carries a strict Content-Security-Policy (no
inline script or style) and a Permissions-Policy that denies powerful features, and no
template or admin helper emits the inline script, style or handlers it would block.

Chromium itself checks the pages in tests/e2e (test_browser_policy.py and the
CSP watcher in tests/e2e/conftest.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.template.loader import render_to_string
from django.test import Client

BASE_DIR = Path(settings.BASE_DIR)

EXPECTED_DIRECTIVES = {
    "default-src": {"'self'"},
    "script-src": {"'self'"},
    "style-src": {"'self'"},
    "img-src": {"'self'", "data:"},
    "object-src": {"'none'"},
    "base-uri": {"'none'"},
    "form-action": {"'self'"},
    "frame-ancestors": {"'none'"},
}
DENIED_FEATURES = ["camera", "microphone", "geolocation", "payment", "usb", "browsing-topics"]


def directives(header: str) -> dict[str, set[str]]:
    parsed: dict[str, set[str]] = {}
    for part in header.split(";"):
        name, *values = part.split()
        parsed[name] = set(values)
    return parsed


def permissions(header: str) -> dict[str, str]:
    return dict(item.strip().split("=", 1) for item in header.split(","))


def expect_browser_policy(response) -> None:
    csp = response.headers["Content-Security-Policy"]
    found = directives(csp)
    for name, sources in EXPECTED_DIRECTIVES.items():
        assert found.get(name) == sources, (name, csp)
    for unsafe in ("'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'", "*"):
        assert all(unsafe not in values for values in found.values()), csp
    allowed = permissions(response.headers["Permissions-Policy"])
    for feature in DENIED_FEATURES:
        assert allowed.get(feature) == "()", (feature, response.headers["Permissions-Policy"])


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/accounts/login/", 200),
        ("/no-such-page/", 404),
        ("/book/not-a-real-link/", 404),
    ],
)
def test_anonymous_pages_carry_the_browser_policy(client, path, status):
    response = client.get(path)
    assert response.status_code == status
    expect_browser_policy(response)


@pytest.mark.parametrize("path", ["/", "/admin/", "/admin/tracing/tracingtask/dashboard/"])
def test_staff_pages_carry_the_browser_policy(client_for, superuser, path):
    response = client_for(superuser).get(path)
    assert response.status_code == 200
    expect_browser_policy(response)


def test_the_500_page_renders_standalone_without_inline_style():
    html = render_to_string("500.html")
    assert "Sorry, there is a problem with the service" in html
    assert 'href="/static/css/error.css"' in html
    assert "style=" not in html and "<style" not in html and "<script" not in html


# What the policy refuses: a <script> with no src (JSON data blocks are fine), a <style>
# element, a style="" attribute, an on...="" event handler and a javascript: URL.
INLINE = re.compile(
    r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/(?:ld\+)?json\")[^>]*>"
    r"|<style[\s>]"
    r"|\sstyle=['\"]"
    r"|\son[a-z]+=['\"]"
    r"|javascript:",
    re.IGNORECASE,
)
OUR_CODE = ["templates", "booking", "tracing", "emis_integration", "hippo_pcn"]


def _sources() -> list[Path]:
    files: list[Path] = []
    for folder in OUR_CODE:
        for suffix in ("*.html", "*.py", "*.svg", "*.txt"):
            files.extend(
                path
                for path in (BASE_DIR / folder).rglob(suffix)
                if "migrations" not in path.parts and path.name != "test_browser_policy.py"
            )
    return files


def test_no_template_or_admin_helper_emits_inline_script_or_style():
    sources = _sources()
    assert any(path.name == "base.html" for path in sources)
    offences = [
        f"{path.relative_to(BASE_DIR)}:{number}: {line.strip()}"
        for path in sources
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if INLINE.search(line) and not (path.suffix == ".py" and line.lstrip().startswith("#"))
    ]
    assert offences == []


def test_a_csrf_failure_shows_our_page_not_djangos_inline_styled_one(db):
    client = Client(enforce_csrf_checks=True)
    response = client.post("/accounts/login/", {"username": "someone", "password": "wrong"})
    assert response.status_code == 403
    html = response.content.decode()
    assert "The form could not be sent" in html
    assert "style=" not in html and "<style" not in html
    expect_browser_policy(response)
