from hippo_pcn.organisations.selectors import (
    organisations_administered_by,
    organisations_for_user,
    user_has_staff_access,
    user_is_support,
)


def _codes(qs):
    return sorted(qs.values_list("ods_code", flat=True))


def test_practice_users_see_only_their_practice(
    practice_staff, practice_admin, practice_a2, practice_b
):
    assert _codes(organisations_for_user(user=practice_staff)) == ["A10001"]
    assert _codes(organisations_for_user(user=practice_admin)) == ["A10001"]


def test_pcn_users_see_their_pcn_and_member_practices(
    pcn_admin, pcn_tracer, practice_a, practice_a2, practice_b, lone_practice
):
    expected = ["A10001", "A10002", "U10001"]
    assert _codes(organisations_for_user(user=pcn_admin)) == expected
    assert _codes(organisations_for_user(user=pcn_tracer)) == expected


def test_support_sees_everything(support_user, superuser, practice_a, practice_b, lone_practice):
    everything = ["A10001", "B20001", "C30001", "U10001", "U20002"]
    assert user_is_support(user=support_user)
    assert user_is_support(user=superuser)
    assert _codes(organisations_for_user(user=support_user)) == everything
    assert _codes(organisations_for_user(user=superuser)) == everything


def test_users_without_membership_or_inactive_see_nothing(
    no_membership_user, practice_staff, practice_a
):
    assert _codes(organisations_for_user(user=no_membership_user)) == []
    assert not user_has_staff_access(user=no_membership_user)
    practice_staff.is_active = False
    practice_staff.save()
    assert _codes(organisations_for_user(user=practice_staff)) == []
    assert not user_has_staff_access(user=practice_staff)


def test_anonymous_sees_nothing(practice_a):
    from django.contrib.auth.models import AnonymousUser

    assert _codes(organisations_for_user(user=AnonymousUser())) == []


def test_administered_organisations(
    practice_admin, practice_staff, pcn_admin, pcn_tracer, practice_a2
):
    assert _codes(organisations_administered_by(user=practice_admin)) == ["A10001"]
    assert _codes(organisations_administered_by(user=pcn_admin)) == ["U10001"]
    assert _codes(organisations_administered_by(user=practice_staff)) == []
    assert _codes(organisations_administered_by(user=pcn_tracer)) == []
