"""Demo EMIS connections: every demo practice's EMIS Web is live against the
bundled sandbox; Riverside PCN's EMIS Community is in `testing` (so support can
take it live), Hillside PCN's is `live` (so PCN booking works at once). The PCN
connections also reach the sandbox's EMIS Partner API, through which the poller
finds the appointments made in them."""

from __future__ import annotations

from typing import TextIO, TypedDict

from django.conf import settings
from django.db import transaction

from hippo_pcn.audit.services import system_actor
from hippo_pcn.organisations.models import Organisation

from .demo_identities import (
    HIPPO_CONSUMER_ASID,
    demo_client_secret,
    demo_partner_application_id,
    demo_partner_token,
    demo_provider_asid,
)
from .models import ConnectionStatus, EmisConnection
from .services import connection_create, connection_update_config

ACTOR = system_actor("seed_demo")
PCN_STATUS = {"U00001": ConnectionStatus.TESTING, "U00002": ConnectionStatus.LIVE}


class PartnerSettings(TypedDict, total=False):
    partner_base_url: str
    partner_application_id: str
    partner_token: str


def partner_settings(org: Organisation, base: str) -> PartnerSettings:
    """A demo PCN's Partner API settings (the sandbox holds the same values)."""
    if not org.is_pcn:
        return {}
    return {
        "partner_base_url": f"{base}/{org.ods_code}/partner",
        "partner_application_id": demo_partner_application_id(org.ods_code),
        "partner_token": demo_partner_token(org.ods_code),
    }


@transaction.atomic
def seed_demo(*, stdout: TextIO) -> None:
    base = settings.EMIS_SANDBOX_BASE_URL.rstrip("/")
    made = updated = 0
    for org in Organisation.objects.filter(
        ods_code__in=[*PCN_STATUS, "A81001", "A81002", "A81003", "B82001", "B82002", "C83001"]
    ):
        partner = partner_settings(org, base)
        existing = EmisConnection.objects.filter(organisation=org).first()
        if existing is not None:
            # A connection from an older seed gains the Partner API settings; an
            # unchanged one is left alone (the service only records real changes).
            if partner:
                before = existing.config_changed_at
                changed = connection_update_config(actor=ACTOR, connection=existing, **partner)
                updated += changed.config_changed_at != before
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
            **partner,
        )
        made += 1
    stdout.write(
        f"  EMIS connections: {made} created, {updated} given Partner API settings "
        "(demo practices live; U00001 testing; U00002 live)"
    )
