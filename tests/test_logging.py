import logging

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
