# SPDX-License-Identifier: MIT
"""test_examples.py - examples/rss_feed.py, the multiprocessing-docs style
RSS reader, prints the same with statemgr's Manager as with Python's: the
import is the only difference."""
import os
import subprocess
import sys
import tempfile
import unittest

EXAMPLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples",
                       "rss_feed.py")


class ExamplesTest(unittest.TestCase):
    def run_script(self, path):
        r = subprocess.run([sys.executable, path], capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def test_rss_feed_same_as_multiprocessing(self):
        with open(EXAMPLE) as f:
            source = f.read()
        self.assertIn("\nfrom statemgr import Manager\n", source)
        ours = self.run_script(EXAMPLE)
        self.assertIn("total: 54 entries from 6 feeds", ours)
        with tempfile.TemporaryDirectory() as d:
            theirs_path = os.path.join(d, "rss_feed_multiprocessing.py")
            with open(theirs_path, "w") as f:
                f.write(source.replace("\nfrom statemgr import Manager\n",
                                       "\nfrom multiprocessing import Manager\n"))
            theirs = self.run_script(theirs_path)
        self.assertEqual(ours, theirs)


if __name__ == "__main__":
    unittest.main()
