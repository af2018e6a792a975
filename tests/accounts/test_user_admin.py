"""Only superusers may change superusers or grant support: for a support member who
is not a superuser, a superuser's pages are a 404 (their password page too), and
superuser status, groups and permissions cannot be set."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from hippo_pcn.organisations.services import support_group_ensure
from tests.factories import TEST_PASSWORD, UserFactory

User = get_user_model()


@pytest.fixture
def other_superuser(db):
    return UserFactory(username="root.other", is_superuser=True, is_staff=True)


@pytest.mark.parametrize(
    "view",
    ["auth_user_change", "auth_user_password_change", "auth_user_history", "auth_user_delete"],
)
def test_support_gets_404_for_a_superusers_pages(client_for, support_user, other_superuser, view):
    url = reverse(f"admin:{view}", args=[other_superuser.pk])
    assert client_for(support_user).get(url).status_code == 404


def test_support_cannot_set_a_superusers_password(client_for, support_user, other_superuser):
    url = f"/admin/auth/user/{other_superuser.pk}/password/"
    response = client_for(support_user).post(
        url,
        {
            "password1": "a-new-password-for-root-2026",
            "password2": "a-new-password-for-root-2026",
            "usable_password": "true",
        },
    )
    assert response.status_code == 404
    other_superuser.refresh_from_db()
    assert other_superuser.check_password(TEST_PASSWORD)


def test_support_does_not_see_superusers_in_the_user_list(
    client_for, support_user, other_superuser, practice_staff
):
    page = client_for(support_user).get(reverse("admin:auth_user_changelist")).content.decode()
    assert practice_staff.username in page
    assert other_superuser.username not in page


def test_support_can_still_manage_ordinary_staff(client_for, support_user, practice_staff):
    admin = client_for(support_user)
    assert admin.get(reverse("admin:auth_user_change", args=[practice_staff.pk])).status_code == 200
    response = admin.post(
        reverse("admin:auth_user_password_change", args=[practice_staff.pk]),
        {
            "password1": "a-fresh-password-for-staff-2026",
            "password2": "a-fresh-password-for-staff-2026",
            "usable_password": "true",
        },
    )
    assert response.status_code == 302
    practice_staff.refresh_from_db()
    assert practice_staff.check_password("a-fresh-password-for-staff-2026")


def _change_form(user, **overrides):
    data = {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "is_active": "on",
        "date_joined_0": "2026-01-05",
        "date_joined_1": "09:00:00",
        "initial-date_joined_0": "2026-01-05",
        "initial-date_joined_1": "09:00:00",
        "last_login_0": "",
        "last_login_1": "",
    }
    data.update(overrides)
    return data


def test_support_cannot_grant_superuser_support_or_permissions(
    client_for, support_user, practice_staff
):
    support = support_group_ensure()
    permission = Permission.objects.get(codename="change_user")
    url = reverse("admin:auth_user_change", args=[practice_staff.pk])
    admin = client_for(support_user)
    form = admin.get(url).content.decode()
    for field in ("is_superuser", "groups", "user_permissions", "is_staff"):
        assert f'name="{field}"' not in form

    response = admin.post(
        url,
        _change_form(
            practice_staff,
            first_name="Changed",
            is_superuser="on",
            is_staff="on",
            groups=[support.pk],
            user_permissions=[permission.pk],
        ),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    practice_staff.refresh_from_db()
    assert practice_staff.first_name == "Changed"  # the allowed change went through
    assert not practice_staff.is_superuser
    assert not practice_staff.is_staff
    assert not practice_staff.groups.filter(pk=support.pk).exists()
    assert not practice_staff.user_permissions.exists()


def test_a_superuser_can_change_superusers_and_grant_support(
    client_for, superuser, other_superuser, practice_staff
):
    support = support_group_ensure()
    admin = client_for(superuser)
    assert (
        admin.get(reverse("admin:auth_user_change", args=[other_superuser.pk])).status_code == 200
    )
    response = admin.post(
        reverse("admin:auth_user_change", args=[practice_staff.pk]),
        _change_form(practice_staff, groups=[support.pk]),
    )
    assert response.status_code == 302
    assert practice_staff.groups.filter(pk=support.pk).exists()


def test_support_cannot_change_groups(client_for, support_user):
    group = Group.objects.create(name="another")
    url = reverse("admin:auth_group_change", args=[group.pk])
    response = client_for(support_user).post(url, {"name": "renamed"})
    assert response.status_code == 403
    group.refresh_from_db()
    assert group.name == "another"
