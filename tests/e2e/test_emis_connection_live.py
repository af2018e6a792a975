"""Support takes a PCN's EMIS Community from testing to live in the admin, with
"Test connection" calling the bundled sandbox over real HTTP."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from emis_integration.models import ConnectionStatus, EmisConnection
from tests.emis_world import EmisWorld, at

from .helpers import sign_in


def _select_and_run(page: Page, connection: EmisConnection, action_label: str) -> None:
    page.locator(f"input[name=_selected_action][value='{connection.pk}']").check()
    page.locator("select[name=action]").select_option(label=action_label)
    page.get_by_role("button", name="Go").click()


def test_support_tests_a_connection_and_marks_it_live(
    live_server, page: Page, support_user, pcn_a, practice_a, practice_a2
):
    world = EmisWorld(base_url=live_server.url).add_pcn(
        pcn_a, [practice_a, practice_a2], status=ConnectionStatus.TESTING
    )
    world.slots("U10001", [at(1, 9), at(1, 10)])
    connection = world.connections["U10001"]

    sign_in(page, live_server.url, support_user.username)
    page.goto(f"{live_server.url}/admin/emis_integration/emisconnection/")
    row = page.locator("#result_list tbody tr", has_text="Alpha PCN")
    expect(row).to_contain_text("Testing")

    # Marking live before a test is refused, with the reason.
    _select_and_run(page, connection, "Mark live (after a passed test)")
    expect(page.locator(".messagelist")).to_contain_text("has not passed “Test connection”")

    # A fault knob makes the test fail with a plain reason.
    world.faults("U10001", error_rate=1.0)
    _select_and_run(page, connection, "Test connection (calls EMIS)")
    expect(page.locator(".messagelist")).to_contain_text("test failed")
    expect(page.locator(".messagelist")).to_contain_text("EMIS did not answer usefully")

    world.faults("U10001", error_rate=0.0)
    _select_and_run(page, connection, "Test connection (calls EMIS)")
    expect(page.locator(".messagelist")).to_contain_text("test passed")
    expect(page.locator("#result_list tbody tr", has_text="Alpha PCN")).to_contain_text("passed")

    _select_and_run(page, connection, "Mark live (after a passed test)")
    expect(page.locator(".messagelist")).to_contain_text("is now live")
    expect(page.locator("#result_list tbody tr", has_text="Alpha PCN")).to_contain_text("Live")
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.LIVE
