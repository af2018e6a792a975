"""Logging filters: invitation tokens travel in URLs (/book/<token>/), and EMIS
patient searches carry NHS numbers in their query strings; neither may reach a
log line, from Django's request logs or the development server's access log."""

from __future__ import annotations

import logging
import re

TOKEN_IN_PATH = re.compile(r"(/book/)[A-Za-z0-9_-]{8,}")
NHS_NUMBER_IN_QUERY = re.compile(r"(nhs-number(?:%7C|\|))[0-9]{6,12}", re.IGNORECASE)


def redact(text: str) -> str:
    text = TOKEN_IN_PATH.sub(r"\1[redacted]", text)
    return NHS_NUMBER_IN_QUERY.sub(r"\1[redacted]", text)


class RedactTokensFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = ()
        request = getattr(record, "request", None)
        if request is not None and TOKEN_IN_PATH.search(getattr(request, "path", "")):
            record.request = None  # tracebacks would print the path again
        return True
