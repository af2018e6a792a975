"""Identities shared by the demo's connections and the bundled sandbox: the ASIDs
and client secrets of demo EMIS organisations. Demo-only values (seed_demo refuses
to run outside DEMO_MODE); real connections get theirs from support."""

from __future__ import annotations

import hashlib

# hippo-pcn's own ASID as a GP Connect consumer in the demo.
HIPPO_CONSUMER_ASID = "200000001234"


def demo_provider_asid(ods_code: str) -> str:
    """A stable 12-digit ASID for a demo EMIS organisation."""
    digest = hashlib.sha256(f"asid:{ods_code.upper()}".encode()).hexdigest()
    return "9" + str(int(digest, 16))[:11]


def demo_client_secret(ods_code: str) -> str:
    """The demo shared secret that signs the JWT for one EMIS organisation."""
    return "demo-" + hashlib.sha256(f"secret:{ods_code.upper()}".encode()).hexdigest()[:32]


def demo_partner_application_id(ods_code: str) -> str:
    """The demo EMIS Partner API application id (the "party key") for one EMIS
    organisation."""
    digest = hashlib.sha256(f"partner-app:{ods_code.upper()}".encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


def demo_partner_token(ods_code: str) -> str:
    """The demo bearer token for one EMIS organisation's Partner API."""
    return (
        "demo-papi-" + hashlib.sha256(f"partner-token:{ods_code.upper()}".encode()).hexdigest()[:40]
    )
