"""System checks (`manage.py check`, and before `migrate`, `runserver` and the
rest): a TLS set-up for EMIS that cannot be loaded is found at deploy, not at the
first poll or booking."""

from __future__ import annotations

import ssl
from typing import Any

from django.core.checks import CheckMessage, Error, register

from .client.transport import TlsConfig, tls_context
from .selectors import emis_tls


@register()
def emis_tls_loads(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    config = emis_tls()
    if config == TlsConfig():
        return []  # the public CAs and no certificate of our own: nothing to load wrong
    try:
        tls_context(config)
    except (OSError, ssl.SSLError, ValueError) as exc:
        return [
            Error(
                f"The TLS set-up for EMIS cannot be loaded: {exc}.",
                hint=(
                    "EMIS_CA_BUNDLE must be a PEM file of CA certificates; EMIS_CLIENT_CERT "
                    "hippo-pcn's certificate in PEM, with its private key in the same file or "
                    "in EMIS_CLIENT_KEY, and EMIS_CLIENT_KEY_PASSWORD set if the key is "
                    "encrypted."
                ),
                id="emis_integration.E001",
            )
        ]
    return []
