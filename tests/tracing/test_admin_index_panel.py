"""The admin index shows a tracing panel per PCN the user may see."""

from django.urls import reverse


def test_pcn_tracer_sees_their_pcn_panel_only(client_for, pcn_tracer, pcn_b, other_pcn_tracer):
    page = client_for(pcn_tracer).get(reverse("admin:index"))
    assert page.status_code == 200
    panels = page.context["tracing_panels"]
    assert [p.pcn.ods_code for p in panels] == ["U10001"]
    assert b'data-testid="admin-tracing-panel"' in page.content
    assert b"Beta PCN" not in page.content


def test_practice_staff_without_pcn_role_see_no_panel(client_for, other_practice_staff):
    page = client_for(other_practice_staff).get(reverse("admin:index"))
    assert page.status_code == 200
    assert b'data-testid="admin-tracing-panel"' not in page.content


def test_support_index_computes_only_a_few_pcn_panels(client_for, support_user, db):
    from tests.factories import PcnFactory
    from tracing.admin import INDEX_TRACING_PANELS

    for n in range(INDEX_TRACING_PANELS + 3):
        PcnFactory(ods_code=f"U7{n:04d}", name=f"Many PCN {n:02d}")
    page = client_for(support_user).get(reverse("admin:index"))
    assert len(page.context["tracing_panels"]) == INDEX_TRACING_PANELS
    assert page.context["tracing_panels_more"] == 3
