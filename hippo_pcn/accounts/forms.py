from __future__ import annotations

from django import forms
from django.core.validators import RegexValidator


class CodeForm(forms.Form):
    """One second-factor code: 6 digits from the authenticator app, or a recovery
    code. Spaces and dashes are allowed, as people copy them."""

    code = forms.CharField(
        label="Security code",
        max_length=32,
        strip=True,
        validators=[
            RegexValidator(
                r"^[A-Za-z0-9 \-]+$",
                message="Enter the code using only letters and numbers.",
            )
        ],
        error_messages={"required": "Enter the security code."},
    )


class AuthenticatorCodeForm(CodeForm):
    """A code from the authenticator app only (recovery codes are not accepted)."""

    code = forms.CharField(
        label="Code from your authenticator app",
        max_length=32,
        strip=True,
        validators=[
            RegexValidator(
                r"^[0-9 \-]+$",
                message="Enter the 6-digit code from your authenticator app.",
            )
        ],
        error_messages={"required": "Enter the 6-digit code from your authenticator app."},
    )
