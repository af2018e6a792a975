"""Tracing fixtures: Alpha PCN's sandbox EMIS with patients at its member
practices and free future PCN slots, and live PCN connections without EMIS."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.emis_world import at

from .helpers import sandbox_patients


@pytest.fixture
def pcn_world(emis_world, pcn_a, practice_a, practice_a2):
    """Alpha PCN live, 20 patients at each member practice, 60 free PCN slots
    over the next days (10:00-15:00, 10-minute slots)."""
    sandbox_patients(emis_world, "A10001", 20, start=999_500_000)
    sandbox_patients(emis_world, "A10002", 20, start=999_600_000)
    starts = [at(day, 10) + timedelta(minutes=10 * i) for day in (2, 3, 4) for i in range(20)]
    emis_world.slots("U10001", starts)
    return emis_world


@pytest.fixture
def pcn_connection(pcn_world):
    return pcn_world.connections["U10001"]


@pytest.fixture
def live_pcn_a(pcn_a, superuser):
    from emis_integration import services as emis_services
    from emis_integration.models import ConnectionStatus

    return emis_services.connection_create(
        actor=superuser, organisation=pcn_a, status=ConnectionStatus.LIVE
    )


@pytest.fixture
def live_pcn_b(pcn_b, superuser):
    from emis_integration import services as emis_services
    from emis_integration.models import ConnectionStatus

    return emis_services.connection_create(
        actor=superuser, organisation=pcn_b, status=ConnectionStatus.LIVE
    )
