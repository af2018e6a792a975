"""Tenancy of every admin registered by the foundation: a user of practice B
gets no practice-A rows, a 404 on practice A's pages, and no practice-A
choices in dropdowns, filters or autocomplete."""

import pytest
from django.urls import reverse

from hippo_pcn.audit.models import AuditEntry
from hippo_pcn.audit.services import audit_record
from hippo_pcn.organisations.models import Membership


@pytest.fixture
def a_rows(practice_a, practice_admin, practice_staff):
    """Practice A data of every kind the admins show."""
    entry = audit_record(
        actor=practice_admin, action="test.touched", target=practice_a, organisation=practice_a
    )
    membership = Membership.objects.get(user=practice_staff)
    return {"organisation": practice_a, "membership": membership, "audit": entry}


CHANGELISTS = [
    ("organisation", "admin:organisations_organisation_changelist"),
    ("membership", "admin:organisations_membership_changelist"),
    ("audit", "admin:audit_auditentry_changelist"),
]
CHANGE_PAGES = {
    "organisation": "admin:organisations_organisation_change",
    "membership": "admin:organisations_membership_change",
    "audit": "admin:audit_auditentry_change",
}


@pytest.mark.parametrize(("kind", "url_name"), CHANGELISTS)
@pytest.mark.parametrize(
    "other", ["other_practice_staff", "other_practice_admin", "other_pcn_tracer"]
)
def test_changelists_show_no_rows_of_another_organisation(
    request, client_for, a_rows, kind, url_name, other
):
    user = request.getfixturevalue(other)
    response = client_for(user).get(reverse(url_name))
    assert response.status_code == 200
    shown = list(response.context["cl"].result_list)
    assert a_rows[kind] not in shown
    assert b"Alpha Surgery" not in response.content
    assert b"A10001" not in response.content


@pytest.mark.parametrize("kind", ["organisation", "membership", "audit"])
@pytest.mark.parametrize(
    "other", ["other_practice_staff", "other_practice_admin", "other_pcn_tracer"]
)
def test_change_pages_of_another_organisation_are_404(request, client_for, a_rows, kind, other):
    client = client_for(request.getfixturevalue(other))
    pk = a_rows[kind].pk
    assert client.get(reverse(CHANGE_PAGES[kind], args=[pk])).status_code == 404
    if kind == "membership":
        delete_url = reverse("admin:organisations_membership_delete", args=[pk])
        assert client.get(delete_url).status_code == 404
        assert client.post(delete_url, {"post": "yes"}).status_code == 404
        assert Membership.objects.filter(pk=pk).exists()
        history = reverse("admin:organisations_membership_history", args=[pk])
        assert client.get(history).status_code == 404


def test_own_rows_are_visible(client_for, a_rows, practice_staff):
    client = client_for(practice_staff)
    for kind, url_name in CHANGELISTS:
        response = client.get(reverse(url_name))
        assert a_rows[kind] in list(response.context["cl"].result_list), kind
        page = client.get(reverse(CHANGE_PAGES[kind], args=[a_rows[kind].pk]))
        assert page.status_code == 200, kind


def test_pcn_users_see_member_practice_rows_but_not_other_pcns(
    client_for, a_rows, pcn_tracer, practice_b
):
    client = client_for(pcn_tracer)
    response = client.get(reverse("admin:organisations_organisation_changelist"))
    shown = {o.ods_code for o in response.context["cl"].result_list}
    assert shown == {"U10001", "A10001"}
    assert (
        client.get(
            reverse("admin:organisations_organisation_change", args=[practice_b.pk])
        ).status_code
        == 404
    )


def test_membership_dropdowns_offer_no_other_organisation_choices(
    client_for, a_rows, other_practice_admin, practice_b
):
    response = client_for(other_practice_admin).get(reverse("admin:organisations_membership_add"))
    assert response.status_code == 200
    form = response.context["adminform"].form
    org_choices = set(form.fields["organisation"].queryset.values_list("ods_code", flat=True))
    assert org_choices == {"B20001"}
    usernames = set(form.fields["user"].queryset.values_list("username", flat=True))
    assert "a.practice_staff" not in usernames
    assert "a.practice_admin" not in usernames
    assert "b.practice_admin" in usernames
    assert b"Alpha Surgery" not in response.content


def test_membership_post_into_another_organisation_is_refused(
    client_for, a_rows, other_practice_admin, practice_a
):
    before = Membership.objects.count()
    response = client_for(other_practice_admin).post(
        reverse("admin:organisations_membership_add"),
        {"user": other_practice_admin.pk, "organisation": practice_a.pk, "role": "practice_staff"},
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["organisation"]
    assert Membership.objects.count() == before


def test_list_filters_offer_no_other_organisation(client_for, a_rows, other_practice_staff):
    for _, url_name in CHANGELISTS:
        response = client_for(other_practice_staff).get(reverse(url_name))
        for spec in response.context["cl"].filter_specs:
            for choice in spec.choices(response.context["cl"]):
                assert "Alpha" not in str(choice.get("display", "")), url_name


def test_autocomplete_returns_no_other_organisation(
    client_for, a_rows, other_practice_staff, support_user
):
    url = reverse("admin:autocomplete")
    params = {
        "app_label": "organisations",
        "model_name": "organisation",
        "field_name": "pcn",
        "term": "Alpha",
    }
    other = client_for(other_practice_staff).get(url, params)
    assert other.status_code == 200
    assert other.json()["results"] == []
    support = client_for(support_user).get(url, params)
    assert [r["text"] for r in support.json()["results"]] == ["Alpha PCN (U10001)"]


def test_audit_entries_without_organisation_are_support_only(
    client_for, practice_staff, support_user
):
    entry = audit_record(actor="system: tests", action="system.thing")
    url = reverse("admin:audit_auditentry_change", args=[entry.pk])
    assert client_for(practice_staff).get(url).status_code == 404
    assert client_for(support_user).get(url).status_code == 200
    assert AuditEntry.objects.filter(pk=entry.pk).exists()
