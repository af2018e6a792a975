from django.contrib.auth import get_user_model
from django.core.management import call_command

from hippo_pcn.audit.models import AuditEntry
from hippo_pcn.organisations.models import Membership, Organisation


def _snapshot():
    User = get_user_model()
    return {
        "organisations": sorted(
            Organisation.objects.values_list("ods_code", "kind", "name", "pcn__ods_code")
        ),
        "memberships": sorted(
            Membership.objects.values_list("user__username", "organisation__ods_code", "role")
        ),
        "users": sorted(User.objects.values_list("username", "password", "is_superuser")),
        "audit": AuditEntry.objects.count(),
    }


def test_seed_demo_twice_gives_the_same_rows(db, capsys):
    call_command("seed_demo")
    first = _snapshot()
    out = capsys.readouterr().out
    call_command("seed_demo")
    assert _snapshot() == first

    assert ("U00001", "pcn", "Riverside PCN", None) in first["organisations"]
    riverside = [o for o in first["organisations"] if o[3] == "U00001"]
    assert len(riverside) == 3
    roles = {m[2] for m in first["memberships"]}
    assert roles == {"practice_admin", "practice_staff", "pcn_admin", "pcn_tracer"}
    # every organisation has one user per role of its kind
    for ods, kind, _, _ in first["organisations"]:
        held = sorted(m[2] for m in first["memberships"] if m[1] == ods)
        expected = (
            ["pcn_admin", "pcn_tracer"] if kind == "pcn" else ["practice_admin", "practice_staff"]
        )
        assert held == expected, ods
    assert "support" in out
    assert "u00001.tracer" in out
    assert "hippo-demo-2026" in out
    support = get_user_model().objects.get(username="support")
    assert support.groups.filter(name="support").exists()
    # Every practice can book: GP Connect sends its phone number.
    assert not Organisation.objects.filter(kind="practice", phone="").exists()


def test_reseeding_gives_practices_seeded_without_a_phone_number_one(db):
    call_command("seed_demo")
    Organisation.objects.filter(ods_code="A81001").update(phone="")
    call_command("seed_demo")
    assert Organisation.objects.get(ods_code="A81001").phone == "01632 960001"


def test_seed_demo_is_refused_outside_demo_mode(db, settings):
    import pytest
    from django.core.management.base import CommandError

    settings.DEMO_MODE = False
    with pytest.raises(CommandError, match="refused"):
        call_command("seed_demo")
    assert not Organisation.objects.exists()
