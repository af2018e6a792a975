"""Request hygiene middleware.

`RejectControlCharactersMiddleware` answers 400 (the NHS-styled templates/400.html)
when the path, a query-string name or value, or a urlencoded form field holds a
control character other than tab, CR or LF. Such characters never come from a
person typing into a page; PostgreSQL refuses NUL in text outright (a search for
`?q=%00` was a 500), and the others end up in data and logs.

Multipart bodies (file uploads) are left alone: parsing them here would fix the
upload handlers before the view can set its own (the patient CSV import limits an
upload's size while it arrives), and their files are checked by their own forms.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest, HttpResponse, QueryDict
from django.views.defaults import bad_request

# C0 controls except tab (\x09), LF (\x0a) and CR (\x0d); DEL; the C1 controls.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


class ControlCharactersInRequest(SuspiciousOperation):
    """A request carried control characters no form or link produces."""


def has_control_characters(text: str) -> bool:
    return CONTROL_CHARACTERS.search(text) is not None


def _query_dict_is_clean(data: QueryDict) -> bool:
    items: Iterable[tuple[str, list[str]]] = data.lists()
    return not any(
        has_control_characters(name) or any(has_control_characters(value) for value in values)
        for name, values in items
    )


class RejectControlCharactersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not self._is_clean(request):
            return bad_request(
                request, ControlCharactersInRequest("Control characters in the request.")
            )
        return self.get_response(request)

    @staticmethod
    def _is_clean(request: HttpRequest) -> bool:
        if has_control_characters(request.path):
            return False
        if not _query_dict_is_clean(request.GET):
            return False
        if request.method == "POST" and request.content_type == "application/x-www-form-urlencoded":
            return _query_dict_is_clean(request.POST)
        return True
