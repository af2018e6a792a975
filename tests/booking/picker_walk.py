"""Walk the slot picker's pages (booking/slot_picker.py) as a person would:
every day's times, through the "Later times" and "Next day" links."""

import re

SLOT_IDS = re.compile(r'name="slot" type="radio" value="(\d+)"')
DAY_VALUES = re.compile(r'name="day" type="radio" value="([0-9-]+)"')


def link(page: str, testid: str) -> str | None:
    """The query of the link `testid` on a page ("" when it has none), or None."""
    found = re.search(rf'href="([^"]*)"[^>]*data-testid="{testid}"', page)
    if not found:
        return None
    href = found.group(1).replace("&amp;", "&")
    return href[href.index("?") :] if "?" in href else ""


def every_shown_slot(get, first: str = "") -> list[int]:
    """The slot ids on every page of times from `first` on; `get(query)` returns
    a page's HTML. A self-book days page opens its first day."""
    page = get(first)
    days = DAY_VALUES.findall(page)
    if days:
        page = get(f"?day={days[0]}")
    shown: list[int] = []
    for _ in range(200):
        shown += [int(pk) for pk in SLOT_IDS.findall(page)]
        following = link(page, "later-times") or link(page, "next-day")
        if following is None:
            return shown
        page = get(following)
    raise AssertionError("the later links go round in circles")
