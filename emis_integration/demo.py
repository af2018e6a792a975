"""Demo EMIS connections: every demo practice's EMIS Web is live against the
bundled sandbox; Riverside PCN's EMIS Community is in `testing` (so support can
take it live), Hillside PCN's is `live` (so PCN booking works at once), and
Brookside PCN has none (so its practices can request onboarding). The PCN
connections also reach the sandbox's EMIS Partner API, through which the poller
finds the appointments made in them. A reseed on another port (PORT, hence
EMIS_SANDBOX_BASE_URL) moves the stored sandbox URLs there."""

from __future__ import annotations

import re
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
# Brookside PCN (U00003) gets no connection: its practices request onboarding.
UNCONNECTED_PCNS = ("U00003",)
PRACTICES = ("A81001", "A81002", "A81003", "B82001", "B82002", "C83001", "D84001", "D84002")
# A URL the demo pointed at the sandbox (on whatever host and port it then ran).
SANDBOX_URL = re.compile(r"^https?://[^/]+/emis-sandbox/(?P<ods>[A-Z0-9]+)/(?P<api>fhir|partner)$")


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


def sandbox_urls_moved(*, connection: EmisConnection, base: str) -> dict[str, str]:
    """The sandbox URLs of a demo connection that point at another host or port
    than `base` (EMIS_SANDBOX_BASE_URL, from PORT): what they should be now.
    URLs that are not the sandbox's are left alone."""
    moved: dict[str, str] = {}
    for field, value in (
        ("base_url", connection.base_url),
        ("partner_base_url", connection.partner_base_url),
    ):
        match = SANDBOX_URL.match(value)
        if match is None:
            continue
        wanted = f"{base}/{match['ods']}/{match['api']}"
        if value != wanted:
            moved[field] = wanted
    return moved


@transaction.atomic
def seed_demo(*, stdout: TextIO) -> None:
    base = settings.EMIS_SANDBOX_BASE_URL.rstrip("/")
    made = updated = moved = 0
    wanted = [*PCN_STATUS, *PRACTICES]
    for org in Organisation.objects.filter(ods_code__in=[*wanted, *UNCONNECTED_PCNS]):
        existing = EmisConnection.objects.filter(organisation=org).first()
        if existing is not None:
            # Reseeded on another port: the sandbox is now there, not where it was.
            urls = sandbox_urls_moved(connection=existing, base=base)
            if urls:
                existing = connection_update_config(
                    actor=ACTOR,
                    connection=existing,
                    base_url=urls.get("base_url", existing.base_url),
                    partner_base_url=urls.get("partner_base_url", existing.partner_base_url),
                )
                moved += 1
            # A connection from an older seed gains the Partner API settings; an
            # unchanged one is left alone (the service only records real changes).
            partner = partner_settings(org, base) if org.ods_code in wanted else {}
            if partner:
                before = existing.config_changed_at
                changed = connection_update_config(actor=ACTOR, connection=existing, **partner)
                updated += changed.config_changed_at != before
            continue
        if org.ods_code not in wanted:
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
            **partner_settings(org, base),
        )
        made += 1
    stdout.write(
        f"  EMIS connections: {made} created, {updated} given Partner API settings, "
        f"{moved} moved to {base} (demo practices live; U00001 testing; U00002 live; "
        "U00003 not connected)"
    )


def demo_connection_fill(*, ods_code: str) -> EmisConnection:
    """Enter the bundled sandbox's details on an organisation's existing connection,
    as support would once EMIS sent them (the demo's stand-in for that email).
    The connection must then pass "Test connection" before it can go live."""
    connection = (
        EmisConnection.objects.select_related("organisation")
        .filter(organisation__ods_code=ods_code.upper())
        .first()
    )
    if connection is None:
        raise EmisConnection.DoesNotExist(
            f"{ods_code.upper()} has no EMIS connection yet: start its onboarding request "
            "in the admin first (Onboarding requests → “Start onboarding”)."
        )
    org = connection.organisation
    base = settings.EMIS_SANDBOX_BASE_URL.rstrip("/")
    return connection_update_config(
        actor=system_actor("demo: EMIS sent its details"),
        connection=connection,
        base_url=f"{base}/{org.ods_code}/fhir",
        provider_ods_code=org.ods_code,
        asid_from=HIPPO_CONSUMER_ASID,
        asid_to=demo_provider_asid(org.ods_code),
        client_secret=demo_client_secret(org.ods_code),
        **partner_settings(org, base),
    )
