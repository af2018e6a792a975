"""Demo EMIS connections: every demo practice's EMIS Web is live against the
bundled sandbox; Riverside PCN's EMIS Community is in `testing` (so support can
take it live), Hillside PCN's is `live` (so PCN booking works at once)."""

from __future__ import annotations

from typing import TextIO

from django.conf import settings
from django.db import transaction

from hippo_pcn.audit.services import system_actor
from hippo_pcn.organisations.models import Organisation

from .demo_identities import HIPPO_CONSUMER_ASID, demo_client_secret, demo_provider_asid
from .models import ConnectionStatus, EmisConnection
from .services import connection_create

ACTOR = system_actor("seed_demo")
PCN_STATUS = {"U00001": ConnectionStatus.TESTING, "U00002": ConnectionStatus.LIVE}


@transaction.atomic
def seed_demo(*, stdout: TextIO) -> None:
    base = settings.EMIS_SANDBOX_BASE_URL.rstrip("/")
    made = 0
    for org in Organisation.objects.filter(
        ods_code__in=[*PCN_STATUS, "A81001", "A81002", "A81003", "B82001", "B82002", "C83001"]
    ):
        if EmisConnection.objects.filter(organisation=org).exists():
            continue
        status = PCN_STATUS.get(org.ods_code, ConnectionStatus.LIVE)
        connection_create(
            actor=ACTOR,
            organisation=org,
            base_url=f"{base}/{org.ods_code}/fhir",
            provider_ods_code=org.ods_code,
            asid_from=HIPPO_CONSUMER_ASID,
            asid_to=demo_provider_asid(org.ods_code),
            client_secret=demo_client_secret(org.ods_code),
            status=status,
            reason="Demo connection to the bundled EMIS sandbox",
        )
        made += 1
    stdout.write(
        f"  EMIS connections: {made} created (demo practices live; U00001 testing; U00002 live)"
    )
