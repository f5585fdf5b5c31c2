#!/usr/bin/env python3
"""Next-edit-suggestion benchmark (issue 14, item 5): how often a server's first predicted edit is
the edit the author made next, and how long the prediction takes.

For each case of the dataset (build_dataset.py): start the server (a fresh process per case, so no
cache or edit history leaks between cases), `initialize` (UTF-16 positions), `didOpen` the
document, replay the case's earlier edits and then edit A as `textDocument/didChange`, and send
`textDocument/copilotInlineEdit` exactly as the public NES clients send it (PROTOCOL.md):
`{"textDocument": {"uri", "version"}, "position"}`, position = the cursor after A.

Scores, per category, per source kind of the case (git history, scripted) and per source of the
prediction (`structural` / `model`, read from the edit's `command.arguments[0]` prefix as
PROTOCOL.md proposes; `untagged` otherwise):

- first exact: applying the first returned edit gives exactly the document that applying B gives
  (so an equivalent edit with a wider range counts);
- first ws: the same after collapsing every run of whitespace to one space;
- any exact: some returned edit does;
- ms: from sending edit A's didChange to the answer (median, p90) over the cases answered with at
  least one edit; with --delay-ms the delay is included, as a user waiting on a debounced client
  would feel it.

Also checked and counted, because the clients rely on them: every edit's `textDocument` names the
document and the version asked about; the edits do not overlap (sidekick.nvim applies all of them
at once). A server that does not implement the method (MethodNotFound, -32601) is reported as
"not supported" after the first case and the run stops there, exit 0.

Standard library only. Examples:

    python3 tests/nes/bench_nes.py --server "target/debug/baton" --structural-only
    python3 tests/nes/bench_nes.py --server "python3 tests/nes/stub_server.py --mode rename"
    python3 tests/nes/bench_nes.py --server target/debug/baton --model-url http://127.0.0.1:8080
    python3 tests/nes/bench_nes.py --server target/debug/baton --model-url http://127.0.0.1:8080 \
        --model-only --model-prompt window
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from build_dataset import apply_lsp  # noqa: E402

METHOD = "textDocument/copilotInlineEdit"
URI_ROOT = "file:///bench-nes"
CATEGORIES = ("rename", "signature", "param_added", "param_removed", "general")


class HarnessError(Exception):
    """The harness or the server's transport broke (not a low score)."""


class NotSupported(Exception):
    """The server answered MethodNotFound to the NES request."""


class Lsp:
    """A minimal LSP client over a child's stdio: one reader thread, responses by id; requests
    from the server are answered with null so it never waits on us."""

    def __init__(self, argv: list[str], env: dict, cwd: str, stderr_path: Path):
        self._stderr = open(stderr_path, "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
                                     env=env, cwd=cwd, start_new_session=True)
        self._next = 0
        self._answers: dict = {}
        self._times: dict = {}
        self._cv = threading.Condition()
        self._wlock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        out = self.proc.stdout
        try:
            while True:
                length = None
                while True:
                    line = out.readline()
                    if not line:
                        raise EOFError
                    line = line.strip()
                    if not line:
                        if length is None:
                            continue
                        break
                    name, _, value = line.decode("ascii", "replace").partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value.strip())
                body = out.read(length)
                if len(body) < length:
                    raise EOFError
                now = time.monotonic()
                msg = json.loads(body)
                if "method" in msg and "id" in msg:
                    self._send({"jsonrpc": "2.0", "id": msg["id"], "result": None})
                elif "id" in msg:
                    with self._cv:
                        self._answers[msg["id"]] = msg
                        self._times[msg["id"]] = now
                        self._cv.notify_all()
        except (EOFError, ValueError, OSError):
            pass
        finally:
            with self._cv:
                self._closed = True
                self._cv.notify_all()

    def _send(self, msg: dict) -> float:
        data = json.dumps(msg, ensure_ascii=False).encode()
        with self._wlock:
            self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(data) + data)
            self.proc.stdin.flush()
            return time.monotonic()

    def notify(self, method: str, params) -> float:
        return self._send({"jsonrpc": "2.0", "method": method, "params": params})

    def request(self, method: str, params, timeout: float) -> tuple[dict, float]:
        """The whole response message and the monotonic time it arrived."""
        self._next += 1
        rid = self._next
        self._send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
        deadline = time.monotonic() + timeout
        with self._cv:
            while rid not in self._answers:
                left = deadline - time.monotonic()
                if self._closed:
                    raise HarnessError(f"the server closed its output before answering {method} "
                                       f"(exit {self.proc.poll()})")
                if left <= 0:
                    raise HarnessError(f"no answer to {method} within {timeout:.0f} s")
                self._cv.wait(left)
            return self._answers.pop(rid), self._times.pop(rid)

    def close(self) -> None:
        try:
            self.request("shutdown", None, 10)
            self.notify("exit", None)
            self.proc.wait(timeout=10)
        except (HarnessError, OSError, subprocess.TimeoutExpired):
            pass
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
        self._stderr.close()


def norm_ws(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip()


def source_of(edit: dict) -> str:
    """The prediction's source as PROTOCOL.md proposes: `command.arguments[0]` = `<source>:<id>`."""
    cmd = edit.get("command") or {}
    args = cmd.get("arguments") or []
    if args and isinstance(args[0], str):
        head = args[0].split(":", 1)[0]
        if head in ("structural", "model"):
            return head
    return "untagged"


def overlaps(edits: list[dict]) -> bool:
    spans = sorted(((e["range"]["start"]["line"], e["range"]["start"]["character"]),
                    (e["range"]["end"]["line"], e["range"]["end"]["character"])) for e in edits)
    return any(spans[k][1] > spans[k + 1][0] for k in range(len(spans) - 1))


def run_case(case: dict, argv: list[str], env: dict, init_options: dict, work: Path, timeout: float,
             delay_ms: int) -> dict:
    uri = f"{URI_ROOT}/{case['path']}"
    errf = work / "server.stderr"
    lsp = Lsp(argv, env, os.getcwd(), errf)
    try:
        resp, _ = lsp.request("initialize", {
            "processId": os.getpid(),
            "rootUri": (work / "root").as_uri(),
            "capabilities": {
                "general": {"positionEncodings": ["utf-16"]},
                "textDocument": {"synchronization": {"dynamicRegistration": False}},
                "workspace": {"configuration": False},
            },
            "initializationOptions": init_options,
        }, 60)
        if "error" in resp:
            raise HarnessError(f"initialize failed: {resp['error']}")
        lsp.notify("initialized", {})
        version = 1
        text = case["document"]
        lsp.notify("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": case["language"], "version": version, "text": text}})
        for e in case["history"] + [case["edit_a"]]:
            version += 1
            text = apply_lsp(text, e)
            t_edit = lsp.notify("textDocument/didChange", {
                "textDocument": {"uri": uri, "version": version},
                "contentChanges": [{"range": e["range"], "text": e["text"]}]})
        if delay_ms:
            time.sleep(delay_ms / 1000)
        resp, t_answer = lsp.request(METHOD, {
            "textDocument": {"uri": uri, "version": version},
            "position": case["cursor"],
        }, timeout)
    finally:
        lsp.close()
    if "error" in resp:
        if resp["error"].get("code") == -32601:
            raise NotSupported(resp["error"].get("message", ""))
        return {"error": resp["error"], "edits": [], "ms": None}
    result = resp.get("result") or {}
    edits = result.get("edits") or [] if isinstance(result, dict) else []
    expected = apply_lsp(text, case["expected"])
    scored = []
    bad_doc = 0
    for e in edits:
        td = e.get("textDocument") or {}
        if td.get("uri") != uri or td.get("version") != version:
            bad_doc += 1
        try:
            got = apply_lsp(text, {"range": e["range"], "text": e.get("text", "")})
        except (KeyError, TypeError):
            got = None
        scored.append({
            "exact": got == expected,
            "ws": got is not None and norm_ws(got) == norm_ws(expected),
            "source": source_of(e),
        })
    return {
        "edits": edits,
        "n_edits": len(edits),
        "first_exact": bool(scored) and scored[0]["exact"],
        "first_ws": bool(scored) and scored[0]["ws"],
        "any_exact": any(s["exact"] for s in scored),
        "first_source": scored[0]["source"] if scored else None,
        "wrong_document": bad_doc,
        "overlapping": len(edits) > 1 and overlaps(edits),
        "ms": round((t_answer - t_edit) * 1000, 1),
    }


def pct(k: int, n: int) -> str:
    return f"{100 * k / n:5.1f}%" if n else "    -"


def p90(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(0.9 * (len(xs) - 1))))]


def table(rows: list[dict], key, title: str) -> str:
    groups: dict = {}
    for r in rows:
        groups.setdefault(key(r), []).append(r)
    out = [f"{title:22} {'n':>4} {'answered':>9} {'first exact':>12} {'first ws':>9} {'any exact':>10} "
           f"{'ms median':>10} {'ms p90':>8}"]
    for name in sorted(groups, key=str):
        g = groups[name]
        ans = [r for r in g if r.get("n_edits")]
        ms = [r["ms"] for r in ans if r.get("ms") is not None]
        out.append(
            f"{str(name):22} {len(g):>4} {pct(len(ans), len(g)):>9} {pct(sum(r['first_exact'] for r in g), len(g)):>12} "
            f"{pct(sum(r['first_ws'] for r in g), len(g)):>9} {pct(sum(r['any_exact'] for r in g), len(g)):>10} "
            f"{(f'{statistics.median(ms):.0f}' if ms else '-'):>10} {(f'{p90(ms):.0f}' if ms else '-'):>8}")
    return "\n".join(out)


def report(rows: list[dict], command: str) -> str:
    parts = [f"command: {command}", ""]
    parts.append(table(rows, lambda r: r["category"], "category"))
    parts.append("")
    parts.append(table(rows, lambda r: r["source"].split(":", 1)[0], "case source"))
    parts.append("")
    parts.append(table([r for r in rows if r.get("n_edits")], lambda r: r["first_source"], "first edit's source"))
    bad = sum(1 for r in rows if r.get("wrong_document"))
    ov = sum(1 for r in rows if r.get("overlapping"))
    errs = sum(1 for r in rows if r.get("error"))
    parts.append("")
    parts.append(f"answers naming another document or version: {bad}; answers with overlapping edits: {ov}; "
                 f"error answers: {errs}")
    return "\n".join(parts)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--server", required=True, help="the server's command line (e.g. target/debug/baton)")
    ap.add_argument("--dataset", type=Path, default=HERE / "dataset.jsonl")
    ap.add_argument("--limit", type=int, help="at most this many cases, spread over the dataset")
    ap.add_argument("--category", action="append", choices=CATEGORIES, help="only these categories")
    ap.add_argument("--model-url", help="an OpenAI-compatible model server for Baton (sent as initializationOptions)")
    ap.add_argument("--model", default="qwen2.5-coder-0.5b", help="model name sent with --model-url")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for one prediction")
    ap.add_argument("--delay-ms", type=int, default=0,
                    help="wait this long after edit A before asking (the clients debounce 100-500 ms)")
    ap.add_argument("--out", type=Path, help="write one JSON line per case here")
    ap.add_argument("--structural-only", action="store_true",
                    help="ask Baton for structural predictions only (nes.model_predictions = false)")
    ap.add_argument("--model-only", action="store_true",
                    help="ask Baton for model predictions only (nes.structural_predictions = false)")
    ap.add_argument("--model-prompt", choices=("auto", "analogy", "window"),
                    help="how Baton asks the model (nes.model_prompt)")
    args = ap.parse_args()

    cases = [json.loads(line) for line in args.dataset.read_text(encoding="utf-8").splitlines() if line.strip()]
    if args.category:
        cases = [c for c in cases if c["category"] in args.category]
    if args.limit and args.limit < len(cases):
        cases = [cases[i * len(cases) // args.limit] for i in range(args.limit)]
    argv = shlex.split(args.server)
    init_options = {}
    if args.model_url:
        init_options = {"provider": {"kind": "openai", "base_url": args.model_url.rstrip("/") + "/v1",
                                     "model": args.model, "timeout_ms": int(args.timeout * 1000)}}
    if args.structural_only:
        init_options["nes"] = {"model_predictions": False}
    if args.model_only:
        init_options["nes"] = {"structural_predictions": False}
    if args.model_prompt:
        init_options.setdefault("nes", {})["model_prompt"] = args.model_prompt
    command = " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv])
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-nes-") as tmp:
        work = Path(tmp)
        (work / "root").mkdir()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(work / "home"),
            "XDG_CONFIG_HOME": str(work / "home" / ".config"),
            "XDG_DATA_HOME": str(work / "home" / ".local" / "share"),
            "BATON_CONFIG": str(work / "config.toml"),
            "BATON_DATA_DIR": str(work / "data"),
        }
        (work / "config.toml").write_text("")
        for k, case in enumerate(cases):
            try:
                r = run_case(case, argv, env, init_options, work, args.timeout, args.delay_ms)
            except NotSupported as e:
                print(f"command: {command}\n\nnot supported: the server answered MethodNotFound to {METHOD} "
                      f"({e}); no case scored.")
                return 0
            except HarnessError as e:
                print(f"[bench-nes] case {case['id']}: {e}", file=sys.stderr)
                stderr = (work / "server.stderr").read_text(errors="replace")[-2000:]
                if stderr:
                    print(stderr, file=sys.stderr)
                return 2
            r.update(id=case["id"], category=case["category"], source=case["source"], language=case["language"],
                     distance_lines=case["distance_lines"])
            rows.append(r)
            if (k + 1) % 25 == 0:
                print(f"[bench-nes] {k + 1}/{len(cases)}", file=sys.stderr)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n")
    print(report(rows, command))
    return 0


if __name__ == "__main__":
    sys.exit(main())
