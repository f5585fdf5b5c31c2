#!/usr/bin/env python3
"""Tests of the NES groundwork: the dataset builder (on a throwaway git repository), the committed
dataset and fixtures, and the harness against the stub server. Standard library only:

    python3 -m unittest discover -s tests/nes -p 'test_*.py'
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import build_dataset as bd  # noqa: E402

STUB = f"{sys.executable} {HERE / 'stub_server.py'}"


def git(repo: Path, *args: str) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.invalid", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@example.invalid", GIT_AUTHOR_DATE="2026-01-01T00:00:00Z",
               GIT_COMMITTER_DATE="2026-01-01T00:00:00Z")
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True,
                          env=env).stdout.strip()


V1 = """\
// Größe: 😀 (a line with non-BMP text, so UTF-16 and char counts differ)
fn area(width: u32, height: u32) -> u32 {
    width * height
}

fn main() {
    let w = 3;
    let a = area(w, 4);
    println!("{} {}", w, a);
}
"""

V2 = """\
// Größe: 😀 (a line with non-BMP text, so UTF-16 and char counts differ)
fn area(width: u32, height: u32, depth: u32) -> u32 {
    width * height * depth
}

fn main() {
    let side = 3;
    let a = area(side, 4, 5);
    println!("{} {}", side, a);
}
"""


class Builder(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.repo = Path(self.tmp.name)
        git(self.repo, "init", "-q")
        (self.repo / "m.rs").write_text(V1, encoding="utf-8")
        git(self.repo, "add", ".")
        git(self.repo, "commit", "-qm", "one")
        (self.repo / "m.rs").write_text(V2, encoding="utf-8")
        git(self.repo, "commit", "-qam", "two")
        self.rev = git(self.repo, "rev-parse", "HEAD")

    def tearDown(self):
        self.tmp.cleanup()

    def build(self) -> list[dict]:
        cases = bd.git_cases(self.repo, self.rev, "t")
        for c in cases:
            bd.check(c)
        return cases

    def test_mines_the_categories_from_history(self):
        cases = self.build()
        cats = {c["category"] for c in cases}
        self.assertIn("rename", cats)  # w -> side, then its next use
        self.assertIn("param_added", cats)  # depth added, then the call gets a 5
        renames = [c for c in cases if c["category"] == "rename"]
        self.assertTrue(all(c["edit_a"]["text"] == "side" and c["expected"]["text"] == "side" for c in renames))
        added = [c for c in cases if c["category"] == "param_added"][0]
        # The call line changed twice (w renamed, 5 added): one edit, narrowed to what differs.
        self.assertEqual(added["edit_a"]["text"], ", depth: u32")
        self.assertEqual(added["expected"]["text"], "side, 4, 5")

    def test_cases_replay_to_the_authors_text(self):
        # Applying history, A and B in order reproduces the author's lines around B.
        for c in self.build():
            doc = c["document"]
            for e in c["history"] + [c["edit_a"], c["expected"]]:
                doc = bd.apply_lsp(doc, e)
            line = doc.split("\n")[c["expected"]["range"]["start"]["line"]]
            self.assertIn(line, V2.split("\n"), c["id"])

    def test_positions_count_utf16_units(self):
        text = "a😀b\nc"
        st = bd.line_starts(text)
        self.assertEqual(bd.to_pos(text, st, 2), {"line": 0, "character": 3})
        self.assertEqual(bd.offset_of(text, st, {"line": 0, "character": 3}), 2)
        self.assertEqual(bd.offset_of(text, st, {"line": 0, "character": 99}), 3)  # clamped to the line
        self.assertEqual(bd.line_starts("a\r\nb\rc\nd"), [0, 3, 5, 7])

    def test_output_is_deterministic(self):
        out1 = Path(self.tmp.name) / "a.jsonl"
        out2 = Path(self.tmp.name) / "b.jsonl"
        for out in (out1, out2):
            subprocess.run([sys.executable, str(HERE / "build_dataset.py"), "--repo", str(self.repo), "--rev",
                            self.rev, "--name", "t", "--out", str(out)], check=True, capture_output=True)
        self.assertEqual(out1.read_bytes(), out2.read_bytes())
        self.assertGreater(len(out1.read_text().splitlines()), 0)


class CommittedData(unittest.TestCase):
    def test_dataset_replays_and_covers_every_category(self):
        cases = [json.loads(line) for line in (HERE / "dataset.jsonl").read_text(encoding="utf-8").splitlines()]
        self.assertLessEqual(len(cases), 400)
        self.assertEqual(len({c["id"] for c in cases}), len(cases))
        for c in cases:
            bd.check(c)
        self.assertEqual({c["category"] for c in cases},
                         {"rename", "signature", "param_added", "param_removed", "general"})

    def test_fixtures_are_well_formed(self):
        fixtures = sorted((HERE / "fixtures").glob("*.json"))
        self.assertGreaterEqual(len(fixtures), 4)
        for f in fixtures:
            fx = json.loads(f.read_text(encoding="utf-8"))
            for key in ("client", "sources", "how", "messages", "response"):
                self.assertIn(key, fx, f.name)
            reqs = [m for m in fx["messages"] if m.get("method") == "textDocument/copilotInlineEdit"]
            self.assertEqual(len(reqs), 1, f.name)
            p = reqs[0]["params"]
            self.assertEqual(set(p), {"textDocument", "position"}, f.name)
            self.assertEqual(set(p["textDocument"]), {"uri", "version"}, f.name)
            edit = fx["response"]["result"]["edits"][0]
            self.assertEqual(set(edit) - {"cacheTelemetryContext"}, {"text", "range", "textDocument", "command"},
                             f.name)


def bench(server: str, dataset: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(HERE / "bench_nes.py"), "--server", server, "--dataset",
                           str(dataset), *extra], capture_output=True, text=True, timeout=120)


class Harness(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        # Two hand-made cases: a rename whose next occurrence the stub's rename mode finds, and a
        # general one it cannot.
        doc = "def f(count):\n    x = count\n    return count\n"
        rename = {
            "id": "t:rename", "category": "rename", "source": "git:t", "language": "python", "path": "t.py",
            "document": doc, "history": [],
            "edit_a": {"range": {"start": {"line": 0, "character": 6}, "end": {"line": 0, "character": 11}},
                       "text": "total"},
            "cursor": {"line": 0, "character": 11},
            "expected": {"range": {"start": {"line": 1, "character": 8}, "end": {"line": 1, "character": 13}},
                         "text": "total"},
            "distance_lines": 1,
        }
        general = dict(rename, id="t:general", category="general",
                       edit_a={"range": {"start": {"line": 1, "character": 4}, "end": {"line": 1, "character": 5}},
                               "text": "y"},
                       expected={"range": {"start": {"line": 2, "character": 11},
                                           "end": {"line": 2, "character": 16}}, "text": "y"})
        self.dataset = Path(self.tmp.name) / "d.jsonl"
        self.dataset.write_text("\n".join(json.dumps(c) for c in (rename, general)) + "\n")

    def tearDown(self):
        self.tmp.cleanup()

    def test_unsupported_server_is_reported_not_failed(self):
        r = bench(f"{STUB} --mode unsupported", self.dataset)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("not supported", r.stdout)

    def test_scores_a_right_prediction_and_a_wrong_one(self):
        out = Path(self.tmp.name) / "r.jsonl"
        r = bench(f"{STUB} --mode rename", self.dataset, "--out", str(out))
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = {x["id"]: x for x in map(json.loads, out.read_text().splitlines())}
        self.assertTrue(rows["t:rename"]["first_exact"])
        self.assertEqual(rows["t:rename"]["first_source"], "structural")
        self.assertFalse(rows["t:general"]["first_exact"])  # no x is left to rename: no edit
        self.assertIn("rename", r.stdout)

    def test_canned_answer_is_answered_but_wrong(self):
        out = Path(self.tmp.name) / "r.jsonl"
        r = bench(f"{STUB} --mode canned", self.dataset, "--out", str(out))
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = [json.loads(x) for x in out.read_text().splitlines()]
        self.assertTrue(all(x["n_edits"] == 1 and not x["any_exact"] for x in rows))

    def test_timing_includes_the_servers_delay(self):
        out = Path(self.tmp.name) / "r.jsonl"
        r = bench(f"{STUB} --mode slow --delay-ms 300", self.dataset, "--out", str(out))
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = [json.loads(x) for x in out.read_text().splitlines()]
        self.assertTrue(all(x["ms"] >= 300 for x in rows), rows)

    def test_a_server_that_dies_fails_the_run(self):
        r = bench(f"{sys.executable} -c 'import sys; sys.exit(3)'", self.dataset)
        self.assertEqual(r.returncode, 2)
        self.assertIn("closed its output", r.stderr)


if __name__ == "__main__":
    unittest.main()
