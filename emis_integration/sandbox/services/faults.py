"""The fault knobs support turns to rehearse EMIS outages (gateway.apply_faults
applies them to every request)."""

from __future__ import annotations

from ..models import SandboxOrganisation


def organisation_set_faults(
    *,
    organisation: SandboxOrganisation,
    latency_ms: int | None = None,
    error_rate: float | None = None,
    force_timeout: bool | None = None,
    timeout_seconds: int | None = None,
    reject_auth: bool | None = None,
    commit_then_fail: bool | None = None,
    commit_then_fail_mode: str | None = None,
) -> SandboxOrganisation:
    """Change the given fault knobs (None leaves one as it is). Out-of-range
    values raise django.core.exceptions.ValidationError."""
    values = {
        "latency_ms": latency_ms,
        "error_rate": error_rate,
        "force_timeout": force_timeout,
        "timeout_seconds": timeout_seconds,
        "reject_auth": reject_auth,
        "commit_then_fail": commit_then_fail,
        "commit_then_fail_mode": commit_then_fail_mode,
    }
    changed = [name for name, value in values.items() if value is not None]
    for name in changed:
        setattr(organisation, name, values[name])
    organisation.full_clean(validate_unique=False)
    if changed:
        organisation.save(update_fields=changed)
    return organisation
