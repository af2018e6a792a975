"""Choices of the booking API that are not a model's (named in the schema by
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"])."""

from __future__ import annotations

from django.db import models


class SlotSource(models.TextChoices):
    """Whose EMIS a slot (and so a booking) is in."""

    PRACTICE = "practice", "The practice's own EMIS Web"
    PCN = "pcn", "The PCN's EMIS Community"
