# SPDX-License-Identifier: MIT
"""statemgr._scan - cursor iteration (the daemon's scan and ls_scan, as the
C API's sm_dict_scan, sm_list_scan, sm_ns_scan and sm_ls_scan) as Python
iterators: one page at a time is held, so an object of any size is read in
bounded memory. Every entry present for the whole iteration comes (a
list's items at least once); what is added or removed meanwhile may or may
not (docs/protocol.md, "Cursor iteration")."""
import operator


def scan_count(count):
    """count as the daemon takes it: None or 0 for its default (100), else
    a positive int (the daemon refuses more than 1,000,000)."""
    if count is None:
        return None
    count = operator.index(count)
    if count < 0:
        raise ValueError("count must be positive or None, not %d" % count)
    return count or None


def _pages(fetch, count):
    cursor = 0
    while True:
        cursor, page = fetch(cursor, count)
        yield from page
        if not cursor:
            return


def proxy_scan(proxy, count, pairs):
    """The items of proxy's scan (dict, list, namespace), as (key, value)
    tuples when pairs is set. count is checked now, not at the first
    next()."""
    count = scan_count(count)
    items = _pages(lambda cursor, n: proxy._call("scan", cursor, n), count)
    return map(tuple, items) if pairs else items


def ls_scan(client, type, count):
    """The maps of ls (named objects, in creation order) from a client,
    page by page."""
    count = scan_count(count)
    if type is not None and not isinstance(type, str):
        raise TypeError("type must be a str or None")
    return _pages(lambda cursor, n: client.ls_scan(type, cursor, n), count)
