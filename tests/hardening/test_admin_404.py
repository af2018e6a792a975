"""Support-only admin pages are a 404 for everyone else, whether the id exists or
not: a 403 for ids that exist and a redirect for ids that don't would let any staff
user enumerate them. Checked for every ModelAdmin registered on the admin site."""

from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.test import RequestFactory
from django.urls import reverse
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from emis_integration.sandbox.models import SandboxOrganisation
from hippo_pcn.admin_site import model_admin_usable_by
from tests.emis_world import sandbox_org

MISSING_ID = "2147480000"
CSRF_TOKEN = re.compile(rb'name="csrfmiddlewaretoken" value="[^"]*"')  # masked anew each time
# Models only support manages (a floor: the test covers every such model it finds).
KNOWN_SUPPORT_ONLY = {
    "auth.user",
    "auth.group",
    "emis_sandbox.sandboxorganisation",
    "emis_sandbox.slot",
    "emis_sandbox.appointment",
    "emis_sandbox.patient",
    "django_celery_beat.periodictask",
}


def _request_as(user):
    request = RequestFactory().get("/admin/")
    request.user = user
    return request


def _support_only_admins(user):
    request = _request_as(user)
    return {
        model._meta.label_lower: (model, model_admin)
        for model, model_admin in admin.site._registry.items()
        if not model_admin_usable_by(model_admin, request)
    }


@pytest.fixture
def rows(support_user, practice_staff, pcn_a, practice_a):
    """At least one row in most support-only models, so ids that exist are tried."""
    sandbox_pcn = sandbox_org(pcn_a)
    sandbox_org(practice_a, pcn=sandbox_pcn)
    every_minute = IntervalSchedule.objects.create(every=60, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(name="a task", task="x.y", interval=every_minute)
    assert Group.objects.exists() and SandboxOrganisation.objects.exists()


def _urls(model, object_id):
    info = (model._meta.app_label, model._meta.model_name)
    return [
        reverse("admin:{}_{}_changelist".format(*info)),
        reverse("admin:{}_{}_add".format(*info)),
        reverse("admin:{}_{}_change".format(*info), args=[object_id]),
        reverse("admin:{}_{}_delete".format(*info), args=[object_id]),
        reverse("admin:{}_{}_history".format(*info), args=[object_id]),
    ]


@pytest.mark.parametrize("role", ["practice_admin", "practice_staff", "pcn_admin", "pcn_tracer"])
def test_every_support_only_admin_page_is_a_404(request, rows, client_for, superuser, role):
    user = request.getfixturevalue(role)
    support_only = _support_only_admins(user)
    assert set(support_only) >= KNOWN_SUPPORT_ONLY, sorted(support_only)
    client = client_for(user)
    as_superuser = client_for(superuser)
    existing_tried = 0
    for label, (model, _) in sorted(support_only.items()):
        first = model._default_manager.order_by("pk").first()
        ids = [MISSING_ID] + ([str(first.pk)] if first is not None else [])
        existing_tried += first is not None
        pages = []
        for object_id in ids:
            answers = []
            for url in _urls(model, object_id):
                response = client.get(url)
                assert response.status_code == 404, (label, url, response.status_code)
                assert b"Perhaps it was deleted" not in response.content
                answers.append(CSRF_TOKEN.sub(b"", response.content))
            pages.append(answers)
        # The same page whether the id exists or not: nothing to tell them apart.
        assert all(answers == pages[0] for answers in pages), label
        if first is not None:
            # The page exists, for someone allowed to see it.
            change = reverse(
                f"admin:{model._meta.app_label}_{model._meta.model_name}_change",
                args=[first.pk],
            )
            assert as_superuser.get(change).status_code == 200, label
            # A POST to delete is refused the same way, and deletes nothing.
            delete = change.replace("/change/", "/delete/")
            assert client.post(delete, {"post": "yes"}).status_code == 404, label
            assert model._default_manager.filter(pk=first.pk).exists(), label
    assert existing_tried >= 5


def test_support_may_use_the_support_only_admins(practice_staff, support_user):
    support_only = _support_only_admins(practice_staff)
    request = _request_as(support_user)
    usable = {
        label
        for label, (_, model_admin) in support_only.items()
        if model_admin_usable_by(model_admin, request)
    }
    # Everything the sandbox and the user admin offer is for the support group.
    assert {label for label in KNOWN_SUPPORT_ONLY if not label.startswith("django_")} <= usable


def test_an_app_index_of_support_only_models_is_a_404(client_for, practice_staff):
    client = client_for(practice_staff)
    for app_label in ("emis_sandbox", "auth", "django_celery_beat"):
        response = client.get(reverse("admin:app_list", args=[app_label]))
        assert response.status_code == 404, app_label


def test_anonymous_users_are_still_sent_to_sign_in(client, db):
    response = client.get(reverse("admin:emis_sandbox_sandboxorganisation_changelist"))
    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_scoped_admins_stay_open_to_their_staff(client_for, practice_staff, rows):
    """Not support-only: the organisations admin still answers practice staff."""
    response = client_for(practice_staff).get(
        reverse("admin:organisations_organisation_changelist")
    )
    assert response.status_code == 200
