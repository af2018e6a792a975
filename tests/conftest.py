"""Shared fixtures: two PCNs (A and B), a practice in each, a practice with no
PCN, and a user for every role, plus a support user."""

from __future__ import annotations

import os
from datetime import datetime

import pytest
from django.test import Client

from hippo_pcn.organisations.roles import Role

from .factories import MembershipFactory, PcnFactory, PracticeFactory, UserFactory


def pytest_addoption(parser):
    parser.addoption(
        "--clock",
        default=os.environ.get("HIPPO_TEST_CLOCK", ""),
        help=(
            "Run the whole suite as if the wall clock started at this ISO date-time "
            "(e.g. 2026-11-28T23:30:00+00:00); the clock keeps ticking. Used to check "
            "that no test depends on the time of day or the day of the week it runs."
        ),
    )


def pytest_configure(config):
    clock = config.getoption("--clock")
    if not clock:
        return
    import time_machine

    try:
        destination = datetime.fromisoformat(clock)
    except ValueError as exc:
        raise pytest.UsageError(f"--clock: {clock!r} is not an ISO date-time") from exc
    if destination.tzinfo is None:
        raise pytest.UsageError("--clock needs a UTC offset, e.g. 2026-11-28T23:30:00+00:00")
    traveller = time_machine.travel(destination, tick=True)
    traveller.start()
    config.add_cleanup(traveller.stop)


def pytest_report_header(config):
    clock = config.getoption("--clock")
    return f"clock: suite runs as if it started at {clock}" if clock else None


@pytest.fixture
def many_connections(tmp_path_factory):
    """For a test that opens a database connection per racing thread (50 of them):
    one such test at a time across the xdist workers, so two races never exhaust
    PostgreSQL's max_connections (100) together. A file lock in the directory the
    workers share; xdist's own `--dist loadgroup` no longer groups under pytest 9.2
    (pytest-dev/pytest-xdist#1386)."""
    from filelock import FileLock

    shared = tmp_path_factory.getbasetemp().parent
    with FileLock(str(shared / "many-connections.lock"), timeout=900):
        yield


@pytest.fixture
def pcn_a(db):
    return PcnFactory(ods_code="U10001", name="Alpha PCN")


@pytest.fixture
def pcn_b(db):
    return PcnFactory(ods_code="U20002", name="Beta PCN")


@pytest.fixture
def practice_a(pcn_a):
    return PracticeFactory(ods_code="A10001", name="Alpha Surgery", pcn=pcn_a)


@pytest.fixture
def practice_a2(pcn_a):
    return PracticeFactory(ods_code="A10002", name="Alpha Second Surgery", pcn=pcn_a)


@pytest.fixture
def practice_b(pcn_b):
    return PracticeFactory(ods_code="B20001", name="Beta Surgery", pcn=pcn_b)


@pytest.fixture
def lone_practice(db):
    return PracticeFactory(ods_code="C30001", name="Lone Surgery", pcn=None)


def _member(username, organisation, role):
    user = UserFactory(username=username)
    MembershipFactory(user=user, organisation=organisation, role=role)
    return user


@pytest.fixture
def practice_admin(practice_a):
    return _member("a.practice_admin", practice_a, Role.PRACTICE_ADMIN)


@pytest.fixture
def practice_staff(practice_a):
    return _member("a.practice_staff", practice_a, Role.PRACTICE_STAFF)


@pytest.fixture
def pcn_admin(pcn_a):
    return _member("a.pcn_admin", pcn_a, Role.PCN_ADMIN)


@pytest.fixture
def pcn_tracer(pcn_a):
    return _member("a.pcn_tracer", pcn_a, Role.PCN_TRACER)


@pytest.fixture
def other_practice_staff(practice_b):
    return _member("b.practice_staff", practice_b, Role.PRACTICE_STAFF)


@pytest.fixture
def other_practice_admin(practice_b):
    return _member("b.practice_admin", practice_b, Role.PRACTICE_ADMIN)


@pytest.fixture
def other_pcn_tracer(pcn_b):
    return _member("b.pcn_tracer", pcn_b, Role.PCN_TRACER)


@pytest.fixture
def support_user(db):
    from hippo_pcn.organisations.services import support_group_ensure

    user = UserFactory(username="support.member")
    user.groups.add(support_group_ensure())
    return user


@pytest.fixture
def superuser(db):
    return UserFactory(username="root.support", is_superuser=True, is_staff=True)


@pytest.fixture
def no_membership_user(db):
    return UserFactory(username="nobody")


@pytest.fixture
def client_for():
    """client_for(user) -> a test Client signed in as that user."""

    def make(user):
        client = Client()
        client.force_login(user)
        return client

    return make


@pytest.fixture
def emis_in_process(settings):
    """Route EMIS calls to the sandbox in this process, over HTTP semantics
    (see tests/emis_integration/transport.py)."""
    settings.EMIS_HTTP_TRANSPORT_FACTORY = "tests.emis_integration.transport.wsgi_transport"


@pytest.fixture
def emis_world(emis_in_process, pcn_a, practice_a, practice_a2):
    """Alpha PCN (live EMIS Community with a site and schedule) and Alpha Surgery
    (live EMIS Web), in the sandbox, reached in-process over HTTP."""
    from tests.emis_world import EmisWorld

    world = EmisWorld(base_url="http://localhost")
    world.add_pcn(pcn_a, [practice_a, practice_a2])
    world.add_practice(practice_a)
    return world
