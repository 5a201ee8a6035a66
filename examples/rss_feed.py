# SPDX-License-Identifier: MIT
"""rss_feed.py - worker processes fill a shared dict of feed URL -> list of
entries, written as the multiprocessing docs would write it. Only the
import of Manager differs from the multiprocessing version:

    from multiprocessing import Manager     # Python's manager
    from statemgr import Manager            # the same program on statemgrd

The parent makes the dict and one shared list per feed (nested proxies),
starts the workers, each fetching its share of the feeds (made-up entries:
no network), and prints what they stored. Run it with the package
installed (pip install ./python), or from the build tree:

    PYTHONPATH=build/python STATEMGRD=build/statemgrd python3 examples/rss_feed.py
"""
from multiprocessing import Process

from statemgr import Manager

FEEDS = [
    "https://example.org/news.rss",
    "https://example.org/sport.rss",
    "https://example.org/tech.rss",
    "https://example.org/science.rss",
    "https://example.org/travel.rss",
    "https://example.org/food.rss",
]
WORKERS = 3


def fetch(url):
    """Stands in for downloading and parsing the feed."""
    name = url.rsplit("/", 1)[1]
    return ["%s entry %d" % (name, i) for i in range(len(name))]


def worker(feeds, urls):
    for url in urls:
        for entry in fetch(url):
            feeds[url].append(entry)


if __name__ == "__main__":
    with Manager() as manager:
        feeds = manager.dict()
        for url in FEEDS:
            feeds[url] = manager.list()
        workers = [Process(target=worker, args=(feeds, FEEDS[i::WORKERS]))
                   for i in range(WORKERS)]
        for p in workers:
            p.start()
        for p in workers:
            p.join()
        total = 0
        for url in FEEDS:
            entries = feeds[url]
            total += len(entries)
            print("%-32s %2d entries, first: %s" % (url, len(entries), entries[0]))
        print("total: %d entries from %d feeds" % (total, len(feeds)))
