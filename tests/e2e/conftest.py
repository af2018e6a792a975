"""Browser tests: Playwright drives Debian's Chromium against pytest-django's
live_server.

Every test here is marked `e2e` (run only them with `pytest -m e2e`, skip them
with `-m "not e2e"`). A test that asks for `live_server` runs in a transactional
database: data created in the test is committed, so the live server thread sees it.

Every page a test opens is watched for Content-Security-Policy violations (the
`securitypolicyviolation` event, and Chromium's "Refused to ..." console errors):
any violation fails the test at teardown, so no page may carry inline script or style.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# Playwright's sync API runs an asyncio event loop in this thread; without this,
# Django refuses ORM calls made from the test (and from live_server's setup) with
# SynchronousOnlyOperation.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

E2E_DIR = Path(__file__).resolve().parent
DEFAULT_CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
DEFAULT_TIMEOUT_MS = 10_000


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test collected from tests/e2e (and only those) as `e2e`."""
    for item in items:
        if E2E_DIR in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.e2e)


def _chromium_path() -> str:
    return os.environ.get("CHROMIUM_PATH") or DEFAULT_CHROMIUM


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """One headless Chromium for the session. Each `launch` (not a persistent
    context) starts from a fresh, throw-away user-data directory."""
    executable = _chromium_path()
    if not (os.path.isfile(executable) and os.access(executable, os.X_OK)):
        message = (
            f"Chromium not found at {executable!r}: install Debian's `chromium` package "
            "or point CHROMIUM_PATH at a Chromium executable."
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)

    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=DEFAULT_TIMEOUT_MS)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=executable,
            headless=True,
            args=CHROMIUM_ARGS,
        )
        try:
            yield chromium
        finally:
            chromium.close()


# Runs in every document before its own scripts: each CSP violation is kept on the
# page (window.__cspViolations) and reported at once to the test (the binding), so
# one on a page the test has already left is not lost.
CSP_VIOLATION_LISTENER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  const violation = {
    page: document.location.href,
    directive: event.effectiveDirective || event.violatedDirective,
    blocked: event.blockedURI,
    source: event.sourceFile ? `${event.sourceFile}:${event.lineNumber}` : "",
    sample: event.sample,
  };
  window.__cspViolations.push(violation);
  if (window.__hippoCspViolation) {
    window.__hippoCspViolation(violation);
  }
});
"""


class CspViolations(list[str]):
    """What the browser refused under the Content-Security-Policy, one line each."""

    def add(self, entry: str) -> None:
        if entry not in self:
            self.append(entry)


def _describe(violation: dict[str, str]) -> str:
    where = f" ({violation['source']})" if violation.get("source") else ""
    sample = f" {violation['sample']!r}" if violation.get("sample") else ""
    return (
        f"{violation.get('page')}: {violation.get('directive')} blocked "
        f"{violation.get('blocked') or 'inline'}{sample}{where}"
    )


def _is_csp_console_error(text: str) -> bool:
    return "Content Security Policy" in text or "Content-Security-Policy" in text


def _violations_on(page) -> list[dict[str, str]]:
    from playwright.sync_api import Error

    if page.is_closed():
        return []
    try:
        return page.evaluate("window.__cspViolations || []")
    except Error:  # the page is navigating: its violations were reported by the binding
        return []


@pytest.fixture
def csp_violations() -> CspViolations:
    """The CSP violations seen by this test's browser contexts (see `new_context`)."""
    return CspViolations()


def _on_console(violations: CspViolations, message) -> None:
    if message.type == "error" and _is_csp_console_error(message.text):
        violations.add(
            f"console error on {message.page.url if message.page else '?'}: {message.text}"
        )


@pytest.fixture
def new_context(browser, csp_violations: CspViolations) -> Iterator[Callable[..., object]]:
    """Opens browser contexts (1280x900 unless a viewport is given) whose pages are
    watched for Content-Security-Policy violations; closes them after the test.

    The test fails at teardown if any page it opened violated the policy. Tests that
    need a second user, or another viewport, open their context with this rather than
    with `browser.new_context`."""
    contexts: list = []

    def open_context(**options: object) -> object:
        options.setdefault("viewport", {"width": 1280, "height": 900})
        context = browser.new_context(**options)
        context.set_default_timeout(DEFAULT_TIMEOUT_MS)
        context.expose_binding(
            "__hippoCspViolation",
            lambda _source, violation: csp_violations.add(_describe(violation)),
        )
        context.add_init_script(CSP_VIOLATION_LISTENER)
        context.on("console", lambda message: _on_console(csp_violations, message))
        contexts.append(context)
        return context

    try:
        yield open_context
        # Violations on pages still open, in case a report is still in flight.
        for context in contexts:
            for open_page in context.pages:
                for violation in _violations_on(open_page):
                    csp_violations.add(_describe(violation))
    finally:
        for context in contexts:
            context.close()
    if csp_violations:
        pytest.fail(
            "Content-Security-Policy violations:\n" + "\n".join(csp_violations), pytrace=False
        )


@pytest.fixture
def page(new_context) -> object:
    """A fresh browser context (no cookies, 1280x900) and page for each test, watched
    for Content-Security-Policy violations (see `new_context`)."""
    return new_context().new_page()
