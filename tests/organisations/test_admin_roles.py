"""Smoke tests: each admin page (changelist, add, change) for each role."""

import pytest
from django.urls import reverse

from hippo_pcn.audit.models import AuditEntry
from hippo_pcn.audit.services import audit_record
from hippo_pcn.organisations.models import Membership, Organisation

ROLES = [
    "practice_admin",
    "practice_staff",
    "pcn_admin",
    "pcn_tracer",
    "support_user",
    "superuser",
    "no_membership_user",
]

# page -> {role: expected status}; roles not listed expect the default.
EXPECTED = {
    "organisation_changelist": {"default": 200, "no_membership_user": 302},
    "organisation_add": {
        "default": 403,
        "support_user": 200,
        "superuser": 200,
        "no_membership_user": 302,
    },
    "organisation_change": {"default": 200, "no_membership_user": 302},
    "membership_changelist": {"default": 200, "no_membership_user": 302},
    "membership_add": {
        "default": 403,
        "practice_admin": 200,
        "pcn_admin": 200,
        "support_user": 200,
        "superuser": 200,
        "no_membership_user": 302,
    },
    "membership_change": {"default": 200, "no_membership_user": 302},
    "audit_changelist": {"default": 200, "no_membership_user": 302},
    "audit_add": {"default": 403, "no_membership_user": 302},
    "audit_change": {"default": 200, "no_membership_user": 302},
    # Support-only: a 404 for other staff, as if the page did not exist.
    "user_changelist": {
        "default": 404,
        "support_user": 200,
        "superuser": 200,
        "no_membership_user": 302,
    },
    "user_add": {"default": 404, "support_user": 200, "superuser": 200, "no_membership_user": 302},
    "admin_index": {"default": 200, "no_membership_user": 302},
}


@pytest.fixture
def everyone(
    practice_admin,
    practice_staff,
    pcn_admin,
    pcn_tracer,
    support_user,
    superuser,
    no_membership_user,
    practice_a,
):
    """Create every role up front so each sees the same data."""
    return practice_a


def _url(page, practice_a, user):
    # "change" pages use an object the role may see.
    if page == "organisation_change":
        org = (
            practice_a
            if not user.memberships.filter(organisation__kind="pcn").exists()
            else Organisation.objects.get(ods_code="U10001")
        )
        return reverse("admin:organisations_organisation_change", args=[org.pk])
    if page == "membership_change":
        m = Membership.objects.filter(organisation=practice_a).first()
        return reverse("admin:organisations_membership_change", args=[m.pk])
    if page == "audit_change":
        entry = AuditEntry.objects.filter(organisation=practice_a).first()
        return reverse("admin:audit_auditentry_change", args=[entry.pk])
    names = {
        "organisation_changelist": "admin:organisations_organisation_changelist",
        "organisation_add": "admin:organisations_organisation_add",
        "membership_changelist": "admin:organisations_membership_changelist",
        "membership_add": "admin:organisations_membership_add",
        "audit_changelist": "admin:audit_auditentry_changelist",
        "audit_add": "admin:audit_auditentry_add",
        "user_changelist": "admin:auth_user_changelist",
        "user_add": "admin:auth_user_add",
        "admin_index": "admin:index",
    }
    return reverse(names[page])


@pytest.mark.parametrize("page", list(EXPECTED))
@pytest.mark.parametrize("role", ROLES)
def test_admin_page_status_per_role(request, client_for, everyone, page, role):
    user = request.getfixturevalue(role)
    audit_record(actor=user, action="test.touched", target=everyone, organisation=everyone)
    expected = EXPECTED[page].get(role, EXPECTED[page]["default"])
    response = client_for(user).get(_url(page, everyone, user))
    assert response.status_code == expected, (page, role, response.status_code)
    if expected == 302:
        assert response["Location"].startswith(reverse("admin:login"))
        # The admin's login sends a signed-in user without access home, where
        # the page says why; no redirect loop.
        follow = client_for(user).get(response["Location"])
        assert follow.status_code == 302
        assert follow["Location"] == reverse("home")


def test_view_only_roles_get_a_read_only_organisation_page(client_for, practice_staff, practice_a):
    response = client_for(practice_staff).get(
        reverse("admin:organisations_organisation_change", args=[practice_a.pk])
    )
    assert response.status_code == 200
    assert b'name="name"' not in response.content
    post = client_for(practice_staff).post(
        reverse("admin:organisations_organisation_change", args=[practice_a.pk]),
        {"name": "Renamed", "ods_code": "A10001"},
    )
    assert post.status_code == 403
    practice_a.refresh_from_db()
    assert practice_a.name == "Alpha Surgery"


def test_support_adds_an_organisation_through_admin_and_it_is_audited(
    client_for, support_user, pcn_a
):
    response = client_for(support_user).post(
        reverse("admin:organisations_organisation_add"),
        {"kind": "practice", "ods_code": "D44001", "name": "New Surgery", "pcn": pcn_a.pk},
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    org = Organisation.objects.get(ods_code="D44001")
    assert org.pcn == pcn_a
    entry = AuditEntry.objects.get(action="organisation.created", organisation=org)
    assert entry.actor == support_user


def test_support_sets_a_practices_phone_number_in_admin(client_for, support_user, practice_a):
    client = client_for(support_user)
    url = reverse("admin:organisations_organisation_change", args=[practice_a.pk])
    page = client.get(url)
    assert 'name="phone"' in page.content.decode()
    response = client.post(
        url,
        {
            "ods_code": "A10001",
            "name": practice_a.name,
            "phone": " 01632 960999 ",
            "pcn": practice_a.pcn_id,
            "organisation_set-TOTAL_FORMS": 0,
            "organisation_set-INITIAL_FORMS": 0,
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    practice_a.refresh_from_db()
    assert practice_a.phone == "01632 960999"
    entry = AuditEntry.objects.get(action="organisation.updated", organisation=practice_a)
    assert entry.details["changes"]["phone"][1] == "01632 960999"
    changelist = client.get(reverse("admin:organisations_organisation_changelist"))
    assert "01632 960999" in changelist.content.decode()


def test_admin_refuses_an_invalid_ods_code_with_a_clear_message(client_for, support_user):
    response = client_for(support_user).post(
        reverse("admin:organisations_organisation_add"),
        {"kind": "pcn", "ods_code": "A12345", "name": "Wrong PCN"},
    )
    assert response.status_code == 200
    assert "is not a valid ODS code for a Primary Care Network" in str(
        response.context["adminform"].form.errors["ods_code"]
    )
    assert not Organisation.objects.filter(name="Wrong PCN").exists()


def test_admin_refuses_a_practice_in_two_pcns(client_for, support_user, practice_a, pcn_b):
    response = client_for(support_user).post(
        reverse("admin:organisations_organisation_change", args=[practice_a.pk]),
        {
            "ods_code": "A10001",
            "name": "Alpha Surgery",
            "pcn": pcn_b.pk,
            "organisation_set-TOTAL_FORMS": 0,
            "organisation_set-INITIAL_FORMS": 0,
        },
    )
    assert response.status_code == 200
    assert "already belongs to Alpha PCN (U10001)" in str(
        response.context["adminform"].form.errors["pcn"]
    )
    practice_a.refresh_from_db()
    assert practice_a.pcn.ods_code == "U10001"


def test_practice_admin_adds_and_removes_a_membership(
    client_for, practice_admin, practice_staff, practice_a
):
    client = client_for(practice_admin)
    response = client.post(
        reverse("admin:organisations_membership_add"),
        {"user": practice_staff.pk, "organisation": practice_a.pk, "role": "practice_admin"},
    )
    assert response.status_code == 302
    membership = Membership.objects.get(user=practice_staff, role="practice_admin")
    assert AuditEntry.objects.filter(
        action="membership.created", object_id=str(membership.pk), actor=practice_admin
    ).exists()
    response = client.post(
        reverse("admin:organisations_membership_delete", args=[membership.pk]), {"post": "yes"}
    )
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert AuditEntry.objects.filter(action="membership.deleted", actor=practice_admin).exists()


def test_admin_refuses_a_role_of_the_wrong_organisation_kind(
    client_for, practice_admin, practice_staff, practice_a
):
    response = client_for(practice_admin).post(
        reverse("admin:organisations_membership_add"),
        {"user": practice_staff.pk, "organisation": practice_a.pk, "role": "pcn_tracer"},
    )
    assert response.status_code == 200
    assert "PCN tracer is not a role in a GP practice" in str(
        response.context["adminform"].form.errors
    )
    assert not Membership.objects.filter(user=practice_staff, role="pcn_tracer").exists()


def test_practice_staff_cannot_change_memberships(
    client_for, practice_staff, practice_admin, practice_a
):
    membership = Membership.objects.get(user=practice_admin)
    response = client_for(practice_staff).post(
        reverse("admin:organisations_membership_change", args=[membership.pk]),
        {"role": "practice_staff"},
    )
    assert response.status_code == 403
    membership.refresh_from_db()
    assert membership.role == "practice_admin"


def test_remove_memberships_action(client_for, practice_admin, practice_staff, practice_a):
    membership = Membership.objects.get(user=practice_staff)
    response = client_for(practice_admin).post(
        reverse("admin:organisations_membership_changelist"),
        {"action": "delete_selected_memberships", "_selected_action": [membership.pk]},
    )
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=membership.pk).exists()
