import pytest
from django.urls import reverse


def test_home_requires_login(client, db):
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_practice_staff_home_shows_their_practice_role_and_pcn(
    client_for, practice_staff, practice_b
):
    response = client_for(practice_staff).get(reverse("home"))
    content = response.content.decode()
    assert response.status_code == 200
    assert "Alpha Surgery" in content
    assert "A10001" in content
    assert "Practice staff" in content
    assert "Alpha PCN (U10001)" in content
    assert "Beta Surgery" not in content
    titles = [link["title"] for link in response.context["links"]]
    assert titles == [
        "Campaigns",
        "Patients",
        "PCN connection",
        "Organisations",
        "Tracing worklist",
        "Audit log",
    ]


def test_practice_admin_can_manage_staff(client_for, practice_admin):
    response = client_for(practice_admin).get(reverse("home"))
    titles = [link["title"] for link in response.context["links"]]
    assert titles == [
        "Campaigns",
        "Patients",
        "PCN connection",
        "Organisations",
        "Staff and roles",
        "Tracing worklist",
        "Audit log",
    ]


@pytest.mark.parametrize("role", ["pcn_admin", "pcn_tracer"])
def test_pcn_home_lists_member_practices(
    request, client_for, practice_a, practice_a2, practice_b, role
):
    user = request.getfixturevalue(role)
    content = client_for(user).get(reverse("home")).content.decode()
    assert "Alpha PCN" in content
    assert "Alpha Surgery (A10001)" in content
    assert "Alpha Second Surgery (A10002)" in content
    assert "Beta Surgery" not in content
    titles = [link["title"] for link in client_for(user).get(reverse("home")).context["links"]]
    assert "Tracing worklist" in titles
    assert "Tracing dashboard" in titles


def test_user_with_several_roles_sees_each(client_for, practice_staff, pcn_a):
    from hippo_pcn.organisations.models import Membership

    Membership.objects.create(user=practice_staff, organisation=pcn_a, role="pcn_tracer")
    response = client_for(practice_staff).get(reverse("home"))
    orgs = [entry["organisation"].ods_code for entry in response.context["summary"]]
    assert orgs == ["U10001", "A10001"]


def test_support_home(client_for, support_user):
    response = client_for(support_user).get(reverse("home"))
    assert b'data-testid="support-notice"' in response.content
    titles = [link["title"] for link in response.context["links"]]
    assert "User accounts" in titles
    assert "Scheduled jobs" in titles


def test_user_without_membership_is_told_so(client_for, no_membership_user, practice_a):
    response = client_for(no_membership_user).get(reverse("home"))
    assert response.status_code == 200
    content = response.content.decode()
    assert "Your account is not linked to an organisation yet" in content
    assert "Alpha" not in content
    assert 'href="/admin/"' not in content


def test_login_page_and_bad_password(client, practice_staff):
    page = client.get(reverse("login"))
    assert page.status_code == 200
    assert b"Sign in to hippo-pcn" in page.content
    bad = client.post(reverse("login"), {"username": "a.practice_staff", "password": "nope"})
    assert bad.status_code == 200
    assert b"There is a problem" in bad.content
    good = client.post(
        reverse("login"),
        {"username": "a.practice_staff", "password": "correct-horse-battery-staple"},
    )
    assert good.status_code == 302
    assert good["Location"] == reverse("home")


def test_unknown_page_is_a_friendly_404(client_for, practice_staff):
    response = client_for(practice_staff).get("/no-such-page/")
    assert response.status_code == 404
    assert b"Page not found" in response.content
