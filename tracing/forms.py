"""Forms for tracing's admin actions."""

from __future__ import annotations

from typing import Any

from django import forms

from .models import CannotTraceReason
from .services.actions import OTHER_NEEDS_A_NOTE


class CannotTraceForm(forms.Form):
    reason = forms.ChoiceField(
        choices=[("", "Choose a reason")] + list(CannotTraceReason.choices),
        error_messages={"required": "Choose why the patient cannot be traced."},
    )
    note = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=2000,
        help_text="What you tried, and what should happen next. Needed for “Other”.",
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("reason") == CannotTraceReason.OTHER and not cleaned.get("note", "").strip():
            self.add_error("note", OTHER_NEEDS_A_NOTE)
        return cleaned
