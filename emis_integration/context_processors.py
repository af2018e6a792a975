"""The support-only banner, on every admin page, about hippo-pcn's EMIS certificate."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from hippo_pcn.organisations.selectors import user_is_support

from .certificates import client_certificate_state


def certificate_alert(request: HttpRequest) -> dict[str, Any]:
    """Support sees, on every admin page, when hippo-pcn's EMIS certificate is
    expiring, has expired or cannot be read: read from the file each time, so a
    renewal shows at once. Nothing for anyone else, or outside the admin."""
    if not request.path.startswith("/admin/") or not user_is_support(user=request.user):
        return {}
    state = client_certificate_state()
    return {"emis_certificate_alert": state} if state.needs_attention else {}
