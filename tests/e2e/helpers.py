"""Shared steps for the browser tests."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.factories import TEST_PASSWORD


def sign_in(page: Page, base_url: str, username: str, password: str = TEST_PASSWORD) -> None:
    page.goto(f"{base_url}/accounts/login/")
    expect(page.get_by_role("heading", name="Sign in to hippo-pcn")).to_be_visible()
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(password)
    page.get_by_role("button", name="Sign in").click()
