import pytest
from django.core.exceptions import ValidationError

from hippo_pcn.audit.models import AuditEntry
from hippo_pcn.audit.services import system_actor
from hippo_pcn.organisations import services
from hippo_pcn.organisations.models import Membership, Organisation
from hippo_pcn.organisations.roles import OrganisationKind, Role
from tests.factories import UserFactory

ACTOR = system_actor("tests")


@pytest.mark.parametrize(
    ("kind", "ods_code"),
    [
        (OrganisationKind.PRACTICE, "A1234"),
        (OrganisationKind.PRACTICE, "AB1234"),
        (OrganisationKind.PRACTICE, "123456"),
        (OrganisationKind.PRACTICE, "A123456"),
        (OrganisationKind.PCN, "A12345"),
        (OrganisationKind.PCN, "U1234"),
        (OrganisationKind.PCN, "UU2345"),
        (OrganisationKind.PCN, ""),
    ],
)
def test_invalid_ods_codes_are_refused_and_nothing_saved(db, kind, ods_code):
    with pytest.raises(ValidationError) as excinfo:
        services.organisation_create(actor=ACTOR, kind=kind, ods_code=ods_code, name="X")
    assert "ods_code" in excinfo.value.message_dict
    messages = " ".join(excinfo.value.message_dict["ods_code"])
    assert "not a valid ODS code" in messages or "This field cannot be blank" in messages
    assert not Organisation.objects.exists()
    assert not AuditEntry.objects.exists()


@pytest.mark.parametrize(
    ("kind", "ods_code"),
    [
        (OrganisationKind.PRACTICE, "A81001"),
        (OrganisationKind.PRACTICE, "y12345"),
        (OrganisationKind.PCN, "U00001"),
    ],
)
def test_valid_ods_codes_are_accepted_upper_cased_and_audited(db, kind, ods_code):
    org = services.organisation_create(actor=ACTOR, kind=kind, ods_code=ods_code, name=" Name ")
    assert org.ods_code == ods_code.upper()
    assert org.name == "Name"
    entry = AuditEntry.objects.get(action="organisation.created")
    assert entry.actor_label == "system: tests"
    assert entry.organisation == org
    assert entry.details["ods_code"] == ods_code.upper()


def test_practice_cannot_be_moved_straight_into_a_second_pcn(practice_a, pcn_b):
    with pytest.raises(ValidationError) as excinfo:
        services.organisation_update(actor=ACTOR, organisation=practice_a, pcn=pcn_b)
    message = excinfo.value.message_dict["pcn"][0]
    assert "already belongs to Alpha PCN (U10001)" in message
    practice_a.refresh_from_db()
    assert practice_a.pcn.ods_code == "U10001"
    assert not AuditEntry.objects.filter(action="organisation.updated").exists()


def test_practice_can_leave_a_pcn_then_join_another(practice_a, pcn_a, pcn_b):
    services.organisation_update(actor=ACTOR, organisation=practice_a, pcn=None)
    services.organisation_update(actor=ACTOR, organisation=practice_a, pcn=pcn_b)
    practice_a.refresh_from_db()
    assert practice_a.pcn == pcn_b
    changes = [
        e.details["changes"]["pcn_id"]
        for e in AuditEntry.objects.filter(action="organisation.updated").order_by("id")
    ]
    assert changes == [[pcn_a.pk, None], [None, pcn_b.pk]]


def test_a_pcn_cannot_belong_to_a_pcn(pcn_a, pcn_b):
    with pytest.raises(ValidationError) as excinfo:
        services.organisation_update(actor=ACTOR, organisation=pcn_b, pcn=pcn_a)
    assert "Only a GP practice can belong to a PCN" in excinfo.value.message_dict["pcn"][0]


def test_practice_pcn_must_be_a_pcn(practice_a, practice_b):
    with pytest.raises(ValidationError):
        services.organisation_create(
            actor=ACTOR,
            kind=OrganisationKind.PRACTICE,
            ods_code="Z99999",
            name="Z",
            pcn=practice_b,
        )
    assert not Organisation.objects.filter(ods_code="Z99999").exists()


def test_kind_cannot_change(practice_a):
    practice_a.kind = OrganisationKind.PCN
    practice_a.pcn = None
    with pytest.raises(ValidationError) as excinfo:
        practice_a.full_clean()
    assert "kind" in excinfo.value.message_dict


def test_duplicate_ods_code_is_refused(practice_a):
    with pytest.raises(ValidationError) as excinfo:
        services.organisation_create(
            actor=ACTOR, kind=OrganisationKind.PRACTICE, ods_code="a10001", name="Copy"
        )
    assert "ods_code" in excinfo.value.message_dict
    assert Organisation.objects.filter(ods_code="A10001").count() == 1


@pytest.mark.parametrize(
    ("org_fixture", "role"),
    [
        ("practice_a", Role.PCN_TRACER),
        ("practice_a", Role.PCN_ADMIN),
        ("pcn_a", Role.PRACTICE_ADMIN),
        ("pcn_a", Role.PRACTICE_STAFF),
    ],
)
def test_membership_role_of_wrong_organisation_kind_is_refused(request, org_fixture, role):
    org = request.getfixturevalue(org_fixture)
    user = UserFactory()
    with pytest.raises(ValidationError) as excinfo:
        services.membership_create(actor=ACTOR, user=user, organisation=org, role=role)
    assert "is not a role in a" in excinfo.value.message_dict["role"][0]
    assert not Membership.objects.filter(user=user).exists()
    assert not AuditEntry.objects.filter(action="membership.created").exists()


def test_membership_lifecycle_is_audited(practice_a, superuser):
    user = UserFactory()
    membership = services.membership_create(
        actor=superuser, user=user, organisation=practice_a, role=Role.PRACTICE_STAFF
    )
    services.membership_update(actor=superuser, membership=membership, role=Role.PRACTICE_ADMIN)
    services.membership_delete(actor=superuser, membership=membership)
    actions = list(
        AuditEntry.objects.filter(organisation=practice_a)
        .order_by("id")
        .values_list("action", "actor_label")
    )
    assert actions == [
        ("membership.created", "root.support"),
        ("membership.updated", "root.support"),
        ("membership.deleted", "root.support"),
    ]
    assert not Membership.objects.filter(user=user).exists()


def test_duplicate_membership_is_refused(practice_a):
    user = UserFactory()
    services.membership_create(
        actor=ACTOR, user=user, organisation=practice_a, role=Role.PRACTICE_STAFF
    )
    with pytest.raises(ValidationError):
        services.membership_create(
            actor=ACTOR, user=user, organisation=practice_a, role=Role.PRACTICE_STAFF
        )
    assert Membership.objects.filter(user=user).count() == 1
