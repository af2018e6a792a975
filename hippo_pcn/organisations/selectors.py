"""Reads about organisations and roles. `organisations_for_user` is the one place
that decides which organisations a user may see; every admin queryset, dropdown,
autocomplete, view and export goes through it."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Q, QuerySet

from .models import Membership, Organisation
from .roles import ADMIN_ROLES, PCN_ROLES

UserLike = AbstractBaseUser | AnonymousUser


def _pk(user: UserLike) -> int:
    pk: int = user.pk  # type: ignore[assignment]  # callers checked it is authenticated
    return pk


def user_is_support(*, user: UserLike) -> bool:
    """Support = an active superuser or a member of the `support` group."""
    if not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
        return False
    if getattr(user, "is_superuser", False):
        return True
    cached = getattr(user, "_hippo_is_support", None)
    if cached is None:
        cached = user.groups.filter(name=settings.SUPPORT_GROUP_NAME).exists()  # type: ignore[union-attr]
        user._hippo_is_support = cached  # type: ignore[union-attr]
    return bool(cached)


def memberships_for_user(*, user: UserLike) -> QuerySet[Membership]:
    if not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
        return Membership.objects.none()
    return (
        Membership.objects.filter(user_id=_pk(user))
        .select_related("organisation", "organisation__pcn")
        .order_by("organisation__name", "role")
    )


def organisations_for_user(*, user: UserLike) -> QuerySet[Organisation]:
    """What a user may see: support sees every organisation; PCN staff see their
    PCN and its member practices; practice staff see their own practice."""
    if user_is_support(user=user):
        return Organisation.objects.all()
    if not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
        return Organisation.objects.none()
    own = Membership.objects.filter(user_id=_pk(user)).values("organisation_id")
    pcns = Membership.objects.filter(user_id=_pk(user), role__in=PCN_ROLES).values(
        "organisation_id"
    )
    return Organisation.objects.filter(Q(pk__in=own) | Q(pcn_id__in=pcns))


def organisations_administered_by(*, user: UserLike) -> QuerySet[Organisation]:
    """Organisations whose memberships the user may manage."""
    if user_is_support(user=user):
        return Organisation.objects.all()
    if not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
        return Organisation.objects.none()
    return Organisation.objects.filter(
        pk__in=Membership.objects.filter(user_id=_pk(user), role__in=ADMIN_ROLES).values(
            "organisation_id"
        )
    )


def user_has_staff_access(*, user: UserLike) -> bool:
    """May this user use the staff pages and admin at all? Asked many times per
    admin page, so the answer is kept on the user object for the request."""
    cached = getattr(user, "_hippo_staff_access", None)
    if cached is None:
        cached = user_is_support(user=user) or memberships_for_user(user=user).exists()
        if getattr(user, "is_authenticated", False):
            user._hippo_staff_access = cached  # type: ignore[union-attr]
    return bool(cached)


def home_summary_for_user(*, user: UserLike) -> list[dict[str, object]]:
    """One entry per organisation the user belongs to: the organisation, the
    user's roles there, and its PCN or member practices."""
    by_org: dict[int, dict[str, object]] = {}
    for membership in memberships_for_user(user=user):
        org = membership.organisation
        entry = by_org.setdefault(
            org.pk,
            {"organisation": org, "roles": [], "pcn": org.pcn, "member_practices": []},
        )
        entry["roles"].append(membership.get_role_display())  # type: ignore[attr-defined]
    pcn_ids = [pk for pk, entry in by_org.items() if entry["organisation"].is_pcn]  # type: ignore[attr-defined]
    if pcn_ids:
        for practice in Organisation.objects.filter(pcn_id__in=pcn_ids).order_by("name"):
            by_org[practice.pcn_id]["member_practices"].append(practice)  # type: ignore[attr-defined,index]
    return list(by_org.values())


def staff_links_for_user(*, user: UserLike) -> list[dict[str, str]]:
    """What the home page offers this user, by role. Only links to pages the
    user may open."""
    from django.urls import reverse

    if not user_has_staff_access(user=user):
        return []
    support = user_is_support(user=user)
    links = [
        {
            "title": "Organisations",
            "description": (
                "Every practice and PCN, their ODS codes and PCN membership."
                if support
                else "Your organisations, their ODS codes and PCN membership."
            ),
            "href": reverse("admin:organisations_organisation_changelist"),
        },
    ]
    if support or organisations_administered_by(user=user).exists():
        links.append(
            {
                "title": "Staff and roles",
                "description": "Who works in your organisation and what role they hold.",
                "href": reverse("admin:organisations_membership_changelist"),
            }
        )
    memberships = memberships_for_user(user=user)
    if memberships.filter(organisation__kind="practice").exists():
        links.insert(
            0,
            {
                "title": "PCN connection",
                "description": "Whether your PCN's EMIS Community is connected, and asking for it.",
                "href": reverse("emis_integration:pcn_connection"),
            },
        )
        links.insert(
            0,
            {
                "title": "Campaigns",
                "description": "Book patients into your own and your PCN's appointment slots.",
                "href": reverse("booking:campaigns"),
            },
        )
        links.insert(
            1,
            {
                "title": "Patients",
                "description": "Your practice's patients, and importing them from a CSV file.",
                "href": reverse("booking:patients"),
            },
        )
    if support or memberships.filter(organisation__kind="pcn").exists():
        links.append(
            {
                "title": "EMIS connections",
                "description": (
                    "Onboard, test, take live and suspend EMIS connections."
                    if support
                    else "Your PCN's EMIS connection and its health."
                ),
                "href": reverse("admin:emis_integration_emisconnection_changelist"),
            }
        )
    if support:
        links.append(
            {
                "title": "Onboarding requests",
                "description": "Practices asking for their PCN's EMIS Community to be connected.",
                "href": reverse("admin:emis_integration_onboardingrequest_changelist"),
            }
        )
    # tracing: the worklist (every staff role sees its own tasks) and the PCN dashboard.
    links.append(
        {
            "title": "Tracing worklist",
            "description": "Patients booked into PCN slots who need tracing into the PCN's EMIS.",
            "href": reverse("admin:tracing_tracingtask_changelist"),
        }
    )
    if support or memberships.filter(organisation__kind="pcn").exists():
        links.append(
            {
                "title": "Tracing dashboard",
                "description": "Open, overdue and traced tasks, and poller health, per PCN.",
                "href": reverse("admin:tracing_dashboard"),
            }
        )
    links.append(
        {
            "title": "Audit log",
            "description": "Who changed what and when, for your organisations.",
            "href": reverse("admin:audit_auditentry_changelist"),
        }
    )
    if support:
        links += [
            {
                "title": "User accounts",
                "description": "Create staff accounts and reset access.",
                "href": reverse("admin:auth_user_changelist"),
            },
            {
                "title": "Scheduled jobs",
                "description": "Celery beat schedules: see, pause and resume periodic jobs.",
                "href": reverse("admin:django_celery_beat_periodictask_changelist"),
            },
        ]
    return links
