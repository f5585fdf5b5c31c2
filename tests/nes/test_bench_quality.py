#!/usr/bin/env python3
"""Tests of the quality benchmark's harness (tests/bench/quality): how a variant run's settings
reach Baton. Here so the gate `python3 -m unittest discover -s tests/nes` runs them. Standard
library only.
"""

from __future__ import annotations

import sys
import tempfile
import unittest
from pathlib import Path

QUALITY = Path(__file__).resolve().parent.parent / "bench" / "quality"
sys.path.insert(0, str(QUALITY))
import bench_quality as bq  # noqa: E402


class VariantSettings(unittest.TestCase):
    def test_a_variant_setting_joins_the_harness_own_and_keeps_greedy_decoding(self):
        with tempfile.TemporaryDirectory() as work:
            b = bq.Baton("baton", "http://127.0.0.1:8093/", Path(work),
                         {"completion": {"cross_file_tokens": 256}, "provider": {"timeout_ms": 5}})
            self.assertEqual(b.init_options["completion"], {"temperature": 0.0, "cross_file_tokens": 256})
            self.assertEqual(b.init_options["provider"]["timeout_ms"], 5)
            self.assertEqual(b.init_options["provider"]["base_url"], "http://127.0.0.1:8093/v1")
            plain = bq.Baton("baton", "http://127.0.0.1:8093", Path(work))
            self.assertEqual(plain.init_options["completion"], {"temperature": 0.0})

    def test_a_value_that_is_not_an_object_replaces_and_the_base_is_not_changed(self):
        base = {"completion": {"temperature": 0.0}}
        self.assertEqual(bq.merged(base, {"completion": None}), {"completion": None})
        self.assertEqual(base, {"completion": {"temperature": 0.0}})


if __name__ == "__main__":
    unittest.main()
