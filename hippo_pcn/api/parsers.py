from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from hippo_pcn.middleware import has_control_characters


def _has_control_characters(value: Any) -> bool:
    if isinstance(value, str):
        return has_control_characters(value)
    if isinstance(value, dict):
        return any(
            _has_control_characters(k) or _has_control_characters(v) for k, v in value.items()
        )
    if isinstance(value, list):
        return any(_has_control_characters(item) for item in value)
    return False


class CleanJSONParser(JSONParser):
    """JSON bodies, refused (400) when a string holds a control character (NUL and
    the like): the same rule the pages' forms follow (hippo_pcn.middleware).
    PostgreSQL refuses NUL in text outright."""

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        data = super().parse(stream, media_type, parser_context)
        if _has_control_characters(data):
            raise ParseError("The request holds control characters (such as NUL) in its text.")
        return data
