import io
import logging
import sys

from hippo_pcn.logging import RedactTokensFilter, redact


def test_tokens_and_nhs_numbers_are_redacted():
    line = (
        '"GET /book/U7-3VkzRlKQy29UVimKb6XpVYZCMDMjpo12RF0lqBKA/confirmed/ HTTP/1.1" 200 '
        '"GET /emis-sandbox/U1/fhir/Patient?identifier=https%3A%2F%2Ffhir.nhs.uk%2FId%2F'
        'nhs-number%7C9434765919 HTTP/1.1"'
    )
    cleaned = redact(line)
    assert "U7-3VkzRlKQy29UVimKb6XpVYZCMDMjpo12RF0lqBKA" not in cleaned
    assert "9434765919" not in cleaned
    assert "/book/[redacted]/confirmed/" in cleaned


def test_the_filter_rewrites_records():
    record = logging.LogRecord(
        "django.server",
        logging.INFO,
        __file__,
        1,
        '"%s" %s',
        ("GET /book/abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG/ HTTP/1.1", 200),
        None,
    )
    assert RedactTokensFilter().filter(record)
    assert "abcdefghij" not in record.getMessage()


TOKEN = "U7-3VkzRlKQy29UVimKb6XpVYZCMDMjpo12RF0lqBKA"  # 43 characters, like booking/tokens.py


def _handled(record: logging.LogRecord) -> str:
    """What a configured handler writes: the filter, then the formatter."""
    assert RedactTokensFilter().filter(record)
    return logging.Formatter("%(levelname)s %(message)s").format(record)


def _record_of_exception(exc: BaseException, **extra) -> logging.LogRecord:
    try:
        raise exc
    except type(exc):
        return logging.getLogger("django.request").makeRecord(
            "django.request",
            logging.ERROR,
            __file__,
            1,
            "Internal Server Error: %s",
            ("/book/[redacted]/",),
            sys.exc_info(),
            **extra,
        )


def test_the_exception_text_and_traceback_are_redacted():
    record = _record_of_exception(
        ValueError(f"no invite for /book/{TOKEN}/confirmed/ or {TOKEN} (nhs-number|9434765919)")
    )
    output = _handled(record)
    assert TOKEN not in output
    assert "9434765919" not in output
    assert "Traceback (most recent call last)" in output
    assert "ValueError: no invite for /book/[redacted]/confirmed/ or [redacted]" in output
    # No handler can format the raw exception again.
    assert record.exc_info is None
    assert _handled(record) == output


def test_exception_text_formatted_before_the_filter_is_redacted_too():
    record = _record_of_exception(KeyError(TOKEN))
    record.exc_text = logging.Formatter().formatException(record.exc_info)
    assert TOKEN in record.exc_text
    assert TOKEN not in _handled(record)


def test_stack_info_is_redacted():
    record = logging.LogRecord(
        "booking", logging.WARNING, __file__, 1, "slow", (), None, sinfo=f"Stack: /book/{TOKEN}/"
    )
    assert TOKEN not in _handled(record)


def test_a_logged_exception_reaches_the_stream_redacted(caplog):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactTokensFilter())
    logger = logging.getLogger("hippo_pcn.tests.redaction")
    logger.addHandler(handler)
    try:
        try:
            raise RuntimeError(f"Reverse for 'start' with arguments '('{TOKEN}',)' not found")
        except RuntimeError:
            logger.exception("could not build the link")
    finally:
        logger.removeHandler(handler)
    written = stream.getvalue()
    assert "could not build the link" in written
    assert "RuntimeError: Reverse for 'start'" in written
    assert TOKEN not in written


def _handlers_in_use():
    loggers = [logging.getLogger()] + [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    for logger in loggers:
        for handler in logger.handlers:
            if isinstance(handler, logging.NullHandler):
                continue
            if type(handler).__module__.startswith("_pytest"):
                continue  # pytest's own capture, not the service's configuration
            yield logger.name, handler


def _assert_every_handler_redacts():
    seen = list(_handlers_in_use())
    assert seen
    for name, handler in seen:
        assert any(isinstance(f, RedactTokensFilter) for f in handler.filters), (name, handler)


def test_every_configured_handler_redacts():
    # Django's own defaults (an unfiltered console when DEBUG, mail_admins) are dropped.
    assert logging.getLogger("django").handlers == []
    _assert_every_handler_redacts()


def test_the_celery_worker_logs_through_the_redacting_handlers():
    from hippo_pcn.celery import app

    # What a worker or beat does at start-up: with a setup_logging receiver, Celery
    # installs none of its own (unfiltered) handlers on the root logger.
    app.log.already_setup = False
    app.log.setup_logging_subsystem(loglevel="INFO", logfile=None, colorize=False)
    _assert_every_handler_redacts()
    assert any(name == "root" for name, _ in _handlers_in_use())
