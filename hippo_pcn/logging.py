"""Logging filters: invitation tokens travel in URLs (/book/<token>/), and EMIS
patient searches carry NHS numbers in their query strings; neither may reach a
log line, from Django's request logs or the development server's access log."""

from __future__ import annotations

import logging
import re

TOKEN_IN_PATH = re.compile(r"(/book/)[A-Za-z0-9_-]{8,}")
NHS_NUMBER_IN_QUERY = re.compile(r"(nhs-number(?:%7C|\|))[0-9]{6,12}", re.IGNORECASE)
# An invitation token on its own (booking/tokens.py: 43 URL-safe base64 characters),
# as exception texts name it: "Reverse for 'start' with arguments '('<token>',)'".
BARE_TOKEN = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])")


def redact(text: str) -> str:
    text = TOKEN_IN_PATH.sub(r"\1[redacted]", text)
    text = BARE_TOKEN.sub("[redacted]", text)
    return NHS_NUMBER_IN_QUERY.sub(r"\1[redacted]", text)


_TRACEBACK_FORMATTER = logging.Formatter()


class RedactTokensFilter(logging.Filter):
    """Redacts the message, the traceback and the stack of every record it sees.

    A traceback names the exception's text (`Invite matching query does not exist:
    /book/<token>/`) and, for some exceptions, the URL: it is formatted here, redacted
    and kept as the record's `exc_text`, and `exc_info` is cleared, so no handler
    formats the raw exception again (logging.Formatter prints `exc_text` as it is)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = ()
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = _TRACEBACK_FORMATTER.formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        request = getattr(record, "request", None)
        if request is not None and TOKEN_IN_PATH.search(getattr(request, "path", "")):
            record.request = None  # tracebacks would print the path again
        return True
