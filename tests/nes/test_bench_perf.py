#!/usr/bin/env python3
"""Tests of the performance benchmark's arithmetic and scripted model (tests/bench/perf): what
counts as a stale answer, which answer ends a pause, what the model answers, and that a call the
client abandons counts as cancelled. Here so the gate `python3 -m unittest discover -s tests/nes`
runs them. Standard library only.
"""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import time
import unittest
from pathlib import Path

PERF = Path(__file__).resolve().parent.parent / "bench" / "perf"
sys.path.insert(0, str(PERF))
import bench_perf as bp  # noqa: E402
import pgo_train  # noqa: E402
import scripted_model as sm  # noqa: E402


class TraceMetrics(unittest.TestCase):
    def test_an_answer_for_an_older_version_is_stale_and_does_not_end_a_pause(self):
        # Keystrokes 1..3 at t = 0, 0.1, 0.2; the user pauses after 3 (the trace ends).
        sent = [(0.0, 1), (0.1, 2), (0.2, 3)]
        answers = [
            (0.15, 1, True),   # version 1 answered after version 2 was typed: stale
            (0.25, 2, False),  # empty: neither stale nor shown
            (0.45, 3, True),   # the pause's answer, 250 ms after its keystroke
            (0.50, 3, True),   # a second one for the same version: shown, latency unchanged
        ]
        m = bp.trace_metrics(sent, answers, pauses=[3], next_key_at={})
        self.assertEqual(m["stale"], 1)
        self.assertEqual(m["shown"], 2)
        self.assertEqual(m["unanswered"], 0)
        self.assertEqual(len(m["latencies_ms"]), 1)
        self.assertAlmostEqual(m["latencies_ms"][0], 250.0, places=6)

    def test_a_pause_answered_only_after_the_user_typed_again_is_unanswered(self):
        sent = [(0.0, 1), (2.0, 2)]
        answers = [(2.1, 1, True)]  # arrives after keystroke 2: too late, and stale
        m = bp.trace_metrics(sent, answers, pauses=[1], next_key_at={1: 2.0})
        self.assertEqual(m["unanswered"], 1)
        self.assertEqual(m["latencies_ms"], [])
        self.assertEqual(m["stale"], 1)

    def test_percentile_is_nearest_rank(self):
        self.assertIsNone(bp.percentile([], 50))
        self.assertEqual(bp.percentile([3.0, 1.0, 2.0, 4.0], 50), 2.0)
        self.assertEqual(bp.percentile([3.0, 1.0, 2.0, 4.0], 90), 4.0)
        self.assertEqual(bp.percentile(list(range(1, 101)), 99), 99)

    def test_apply_insert_moves_the_cursor_over_new_lines(self):
        lines = ["def f():", "    ", "    return x"]
        self.assertEqual(bp.apply_insert(lines, 1, 4, "x = 1"), (1, 9))
        self.assertEqual(bp.apply_insert(lines, 1, 9, "\n    "), (2, 4))
        self.assertEqual(lines, ["def f():", "    x = 1", "    ", "    return x"])


class ScriptedModel(unittest.TestCase):
    def test_the_answer_is_the_rest_of_the_targets_line_from_any_wire_format(self):
        target = "def f(a):\n    total = a + 1\n    return total\n"
        prefix = "def f(a):\n    total = a"
        self.assertEqual(sm.continuation(target, prefix, "FIXED"), " + 1")
        self.assertEqual(sm.continuation(target, "def f(a):\n    total = a + 1", "FIXED"),
                         "\n    return total")
        self.assertEqual(sm.continuation(target, "unrelated", "FIXED"), "FIXED")
        fim = f"{sm.FIM_PREFIX}<|file_sep|>x.py\n{sm.FIM_PREFIX}{prefix}{sm.FIM_SUFFIX}\n{sm.FIM_MIDDLE}"
        self.assertEqual(sm.prefix_of({"prompt": fim}), prefix)
        self.assertEqual(sm.prefix_of({"segments": {"prefix": prefix, "suffix": ""}}), prefix)

    def test_completed_and_cancelled_calls_are_counted_over_real_http(self):
        m = sm.ScriptedModel(delay_ms=300, target="x = compute(1)\n").start()
        try:
            host, port = m.url.rsplit("/", 1)[1].split(":")
            c = http.client.HTTPConnection(host, int(port), timeout=5)
            c.request("POST", "/v1/completions", json.dumps({"prompt": "x = comp", "stream": True}),
                      {"Content-Type": "application/json"})
            body = c.getresponse().read().decode()
            self.assertIn('"text": "ute(1)"', body)
            self.assertTrue(body.endswith("data: [DONE]\n\n"))
            # Tabby's format on the same kept-alive connection.
            c.request("POST", "/v1/completions", json.dumps({"segments": {"prefix": "x = ", "suffix": ""}}),
                      {"Content-Type": "application/json"})
            self.assertEqual(json.loads(c.getresponse().read())["choices"][0]["text"], "compute(1)")
            c.close()
            # A client that gives up during the delay.
            s = socket.create_connection((host, int(port)))
            payload = json.dumps({"prompt": "x = "}).encode()
            s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: %d\r\n\r\n" % len(payload) + payload)
            deadline = time.monotonic() + 5
            while len(m.stats.snapshot()) < 3 and time.monotonic() < deadline:
                time.sleep(0.01)
            s.close()
            while any(c["end"] is None for c in m.stats.snapshot()) and time.monotonic() < deadline:
                time.sleep(0.01)
            calls = m.stats.snapshot()
            self.assertEqual([c["kind"] for c in calls], ["openai-sse", "tabby", "openai-json"])
            self.assertEqual([c["done"] for c in calls], [True, True, False])
            # The model's time starts when the request reached its socket (the kernel's time,
            # converted to this clock), at or before this process read it, and the delay runs
            # from there.
            for c in calls:
                self.assertTrue(0 <= c["woke"] - c["start"] < 1.0, c)
            self.assertGreaterEqual(calls[0]["end"] - calls[0]["start"], 0.299)
            self.assertLess(calls[2]["end"] - calls[2]["start"], 0.29, "cancelled before the delay ran out")
        finally:
            m.stop()


class Report(unittest.TestCase):
    def test_the_reference_server_fills_only_the_module_row(self):
        overhead = {"p50": 0.9, "p99": 1.4, "calls": 300, "nonempty": 300, "errors": 0}
        baton = {"version": "baton 0.1.0",
                 "trace": {"started": 6, "completed": 3, "shown": 66, "stale": 0, "answered": 81,
                           "requests": 81, "unanswered": 0, "latencies_ms": [360.0, 390.0], "errors": 0},
                 "module": dict(overhead, didchange_us=400.0), "class": overhead,
                 "memory": {"rss": 14.8, "anon": 3.2}}
        bare = {"version": "", "module": dict(overhead, p50=0.16, p99=0.6)}
        table = bp.report({"baton": baton, "bare": bare}, "scripts/bench-perf.sh --servers baton,bare",
                          {"date": "2026-12-05", "commit": "abc", "machine": "2 cores"})
        rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:4]]
                for line in table.splitlines() if line.startswith("| ") and line.count("|") == 4}
        self.assertEqual(rows["overhead, 10,000-line module p50 / p99 (ms, median of 3 runs)"],
                         ["0.90 / 1.40", "0.16 / 0.60"])
        self.assertEqual(rows["overhead, 10,000-line one-class file p50 / p99 (ms, median of 3 runs)"],
                         ["0.90 / 1.40", "-"])
        self.assertEqual(rows["stale answers"], ["0", "-"])
        self.assertEqual(rows["memory, 100 open files of 300 lines (MiB RSS, median of 3)"], ["14.8", "-"])
        self.assertIn("bare: the reference, not a peer", table)


class Settings(unittest.TestCase):
    def test_settings_merge_into_batons_options_key_by_key_and_the_table_names_them(self):
        kind = bp.Baton("baton", Path("/nonexistent"))
        try:
            bp.Baton.settings = {"completion": {"max_debounce_ms": 100}}
            trace = kind.init_options("http://127.0.0.1:1", "trace")
            overhead = kind.init_options("http://127.0.0.1:1", "overhead")
        finally:
            bp.Baton.settings = {}
        self.assertEqual(trace["completion"], {"temperature": 0.0, "max_debounce_ms": 100})
        self.assertEqual(overhead["completion"], {"temperature": 0.0, "debounce_ms": 0, "max_debounce_ms": 100})
        self.assertEqual(trace["provider"]["kind"], "openai", "the rest is kept")
        self.assertEqual(kind.init_options("http://127.0.0.1:1", "trace")["completion"], {"temperature": 0.0})
        table = bp.report({"baton": {"version": "", "trace": {"started": 1, "completed": 1, "shown": 1, "stale": 0,
                                                               "answered": 1, "requests": 1, "unanswered": 0, "errors": 0,
                                                               "latencies_ms": [200.0]}}},
                          "", {"date": "d", "commit": "c", "machine": "m", "settings": {"completion": {"x": 1}}})
        self.assertIn('settings: {"completion": {"x": 1}}', table)

    def test_settings_that_are_not_a_json_object_stop_before_any_run(self):
        for bad in ("{not json", "[1]"):
            r = subprocess.run([sys.executable, str(PERF / "bench_perf.py"), "--baton", "/bin/true",
                                "--settings", bad], capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("--settings", r.stderr)


class MedianOfRuns(unittest.TestCase):
    def test_a_row_gives_the_median_p50_and_p99_of_its_runs_and_keeps_the_first_runs_other_numbers(self):
        runs = [{"p50": 0.6, "p99": 4.5, "calls": 300, "didchange_us": 500.0},
                {"p50": 0.5, "p99": 0.8, "calls": 299},
                {"p50": 0.7, "p99": 0.9, "calls": 298}]
        row = bp.median_of_runs(runs)
        # One busy run's 4.5 ms tail does not make the row's p99; each run's pair is kept.
        self.assertEqual((row["p50"], row["p99"]), (0.6, 0.9))
        self.assertEqual((row["calls"], row["didchange_us"]), (300, 500.0))
        self.assertEqual(row["runs"], [(0.6, 4.5), (0.5, 0.8), (0.7, 0.9)])

    def test_runs_without_numbers_are_left_out_and_none_at_all_gives_none(self):
        self.assertEqual(bp.median_of_runs([{"p50": None, "p99": None}, {"p50": 0.4, "p99": 0.8}])["p99"], 0.8)
        self.assertIsNone(bp.median_of_runs([{"p50": None, "p99": None}])["p50"])


class Compare(unittest.TestCase):
    def test_each_build_runs_as_often_in_each_slot_of_a_round(self):
        order = bp.compare_order(2)
        self.assertEqual(len(order), 16)
        self.assertEqual(order.count("A"), 8)
        for slot in range(4):
            in_slot = [order[i] for i in range(slot, len(order), 4)]
            self.assertEqual(in_slot.count("A"), in_slot.count("B"), f"slot {slot}: {in_slot}")
        # Neither build always runs first.
        self.assertEqual({order[i] for i in range(0, len(order), 4)}, {"A", "B"})

    def test_the_report_gives_means_spreads_and_the_difference(self):
        runs = {"module": {"A": [(0.80, 1.20), (0.90, 1.40)], "B": [(0.70, 1.00), (0.74, 1.10)]}}
        table = bp.compare_report(runs, {"A": "old", "B": "new"}, "scripts/bench-perf.sh --compare a,b",
                                  {"date": "2026-12-06", "machine": "2 cores"})
        row = next(line for line in table.splitlines() if line.startswith("| module"))
        cells = [c.strip() for c in row.split("|")[1:-1]]
        self.assertEqual(cells, ["module", "0.85 / 1.30 (0.80-0.90 / 1.20-1.40)",
                                 "0.72 / 1.05 (0.70-0.74 / 1.00-1.10)", "-0.13 / -0.25"])
        self.assertIn("mean of 2", table)
        self.assertTrue(table.endswith("command: scripts/bench-perf.sh --compare a,b"))

    def test_no_rounds_or_no_rows_is_a_clear_error_before_any_run(self):
        for extra in (["--rounds", "0"], ["--rows", ","]):
            r = subprocess.run([sys.executable, str(PERF / "bench_perf.py"), "--compare", "a", "b", *extra],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("at least one row", r.stderr)


class StepMarks(unittest.TestCase):
    @staticmethod
    def request(t0: int, classify_us: int) -> list[tuple[int, int]]:
        """One keystroke's marks, ns: its read, two bodies (didChange, then the request), the
        didChange handler, the completion to its answer written; each step 1 us but the first
        body's classification, `classify_us`."""
        us = 1000
        steps = [1, 2, 3, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]
        marks, t = [], t0
        for i, step in enumerate(steps):
            t += classify_us * us if i == 2 else (us if i else 0)
            marks.append((step, t))
        return marks

    def test_each_request_is_cut_from_its_read_to_its_answer_written_after_the_warmup(self):
        marks = []
        for i in range(bp.STEPS_WARMUP + 3):
            marks += self.request(i * 50_000_000, classify_us=10 + i)
            marks.append((1, i * 50_000_000 + 40_000_000))  # a read with no request in it
        requests = bp.request_steps(marks)
        self.assertEqual(len(requests), 3)
        names = [name for name, _ in requests[0]]
        self.assertEqual(names[:4], ["input read -> body framed", "body framed -> body classified",
                                     "body classified -> body framed", "body framed -> body classified #2"])
        self.assertEqual(names[-1], "writer got -> written")
        self.assertEqual(len(names), 16)
        # The warm-up's requests are gone: the first kept is the 11th, classified in 20 us.
        self.assertEqual([dict(r)["body framed -> body classified"] for r in requests], [20.0, 21.0, 22.0])

    def test_the_step_table_gives_each_builds_medians_and_the_difference(self):
        a = [[("x -> y", float(v)), ("y -> z", 1.0)] for v in (10, 20, 30, 40)]
        b = [[("x -> y", float(v))] for v in (5, 6, 7)]
        table = bp.step_table({"A": a, "B": b})
        lines = table.split("\n")
        self.assertEqual([c.strip() for c in lines[2].strip("|").split("|")],
                         ["x -> y", "4", "3", "30.0", "6.0", "40.0", "7.0", "-24.0"])
        self.assertEqual([c.strip() for c in lines[3].strip("|").split("|")],
                         ["y -> z", "4", "0", "1.0", "-", "1.0", "-", "-"])

    def test_a_requests_overhead_is_cut_into_parts_on_the_clients_and_the_models_clocks(self):
        # One keystroke at t0 = 100 s: the server reads it 40 us after the client's write, asks
        # the model at +300, the model's socket has it at +360 and answers at +900, the server
        # has the answer's head at +980, hands the reply to its writer at +1200, and the client
        # reads it at +1330. A second request (two model calls) and one with no marks are left out.
        t0 = 100.0
        at = lambda us: int(t0 * 1e9) + us * 1000  # noqa: E731
        marks = [(1, at(40)), (2, at(45)), (3, at(60)), (6, at(100)), (9, at(300)),
                 (10, at(980)), (11, at(1000)), (14, at(1200)), (15, at(1300))]
        spans = [(t0, t0 + 0.00133, [(t0 + 0.00036, t0 + 0.0009)]),
                 (t0 + 1, t0 + 1.001, [(t0 + 1.0001, t0 + 1.0002), (t0 + 1.0003, t0 + 1.0004)]),
                 (t0 + 2, t0 + 2.001, [(t0 + 2.0001, t0 + 2.0002)])]
        parts = bp.overhead_parts(marks, spans)
        self.assertEqual(len(parts), 1)
        got = {name: round(us) for name, us in parts[0]}
        self.assertEqual(got, {"client's write -> input read": 40, "Baton before the model": 260,
                               "request ready -> model's socket": 60, "model's answer -> answer head": 80,
                               "Baton after the model": 220, "writer got -> client's read": 130})
        # The parts are the overhead: the response time less the model's.
        self.assertEqual(sum(got.values()), 1330 - 540)
        # Marks on another clock (a build before CLOCK_MONOTONIC marks) cut nothing.
        self.assertEqual(bp.overhead_parts([(s, ns - at(0)) for s, ns in marks], spans), [])

    def test_every_server_kind_runs_without_step_marks_unless_asked(self):
        # run_overhead reads `steps_file` of whatever server it runs (a peer's or the reference's
        # run once failed on it).
        for kind in bp.KINDS.values():
            self.assertIsNone(kind("server", Path("/nonexistent")).steps_file, kind.__name__)

    def test_a_missing_or_broken_marks_file_reads_as_no_marks(self):
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "steps.txt"
            self.assertEqual(bp.read_marks(path), [])
            path.write_text("1 100\ngarbage\n6 x\n15 900\n")
            self.assertEqual(bp.read_marks(path), [(1, 100), (15, 900)])
            self.assertEqual(bp.request_steps(bp.read_marks(path)), [])


class PgoTraining(unittest.TestCase):
    def test_the_lines_typed_are_code_spread_over_the_file_and_emptied_to_their_indentation(self):
        lines = ["import os", "", "# a comment long enough", "def f(a, b):",
                 "    total = a + b", "    // not python but a comment", "    return total",
                 "x"]
        # Lines of code: 0, 3, 4 and 6 (2 and 5 are comments, 1 and 7 too short); two of them,
        # every second one.
        self.assertEqual(pgo_train.pick_lines(lines, 10), [0, 3, 4, 6])
        self.assertEqual(pgo_train.pick_lines(lines, 2), [0, 4])
        out = pgo_train.emptied(lines, [3, 4])
        self.assertEqual(out[3], "")
        self.assertEqual(out[4], "    ")
        self.assertEqual(out[6], "    return total")
        self.assertEqual(len(out), len(lines))

    def test_every_language_of_the_corpus_has_an_answer_that_never_fits(self):
        for _, lang, _ in pgo_train.CORPUS:
            self.assertIn(lang, pgo_train.WRONG)


if __name__ == "__main__":
    unittest.main()
