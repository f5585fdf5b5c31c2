"""Performance benchmark side by side (issue 13, item 6): Baton, tabby-agent and lsp-ai over
stdio against one scripted model (scripted_model.py), printing one table.

Runs, each in a fresh server process, its executable first dropped from the page cache (as
after a reboot: how a binary's pages came into the cache moved a Baton build's p50 by up to
~0.1 ms; `start`):
- trace: the typing trace of trace.json (81 keystrokes, 4 pauses), model delay 150 ms. Each
  keystroke is a `didChange` and an automatic completion request (`textDocument/inlineCompletion`,
  triggerKind Automatic; `textDocument/completion` for lsp-ai, which has no inline completion);
  the previous request still pending is cancelled (`$/cancelRequest`), as VS Code does.
- overhead: 300 requests, each after a one-character `didChange`, at the end of a line in the
  middle of a 10,000-line module (1,000 functions) and of a 10,000-line file that is one class,
  and in the module near its top (line ~400, in the first 32 KB, as in most files);
  model delay 0, debounce switched off where a server has a setting for it. Overhead = response
  time minus the model's time for the calls made while the request was open; the model's time
  runs from a call's arrival at the model's socket (the kernel's receive time) to its answer
  ready to be written, clocked by the scripted model in a process of its own (`ModelProcess`).
  The JSON also keeps `woke_p50`/`woke_p99`: the same with the model's time from when its
  process got to read the call (the measure before 2026-12-05). The module's and the one-class
  file's rows run OVERHEAD_RUNS times, each a fresh server, and give the median of the runs' p50s
  and of their p99s (since 2026-12-07; before, one run each).
- overhead, plain text: the module's run with the file opened as `plaintext` (`module.txt`): for
  Baton no tree, no scopes and no parse check, so what a model call costs a server without any
  grammar; beside the module's row, what the grammar's work adds.
- floor: the same loop as the module's overhead run (a one-character change to the open module,
  then a request), but the request names a document that is not open, so the server does no
  work and calls no model: what the transport, JSON and this client cost, and what a reparse
  started by the change takes from the request on a small machine.
- didChange cost: CPU time of all the server's threads (/proc/PID/task/*/schedstat) for 200
  one-character changes to the 10,000-line module (the overhead run's statements typed on where
  it stopped), 20 ms apart, no requests, background work (reparsing) included, idle CPU over the
  same span subtracted; microseconds per change.
- memory: RSS (/proc/PID/status VmRSS) after opening 100 Python files of 300 lines and one
  completion request in the last; the median of three runs, and the private part (RssAnon)
  beside it. How much of an executable is mapped depends on how its pages came into the cache:
  a binary just written by the linker or `cp` showed ~1 MiB more RssFile than the same bytes
  read back from disk.

Standard library only. `bench-perf.sh` installs the peers and calls this; `--servers baton` runs
Baton alone. `BATON_POSTPROCESS_OFF` in this script's environment reaches Baton (and is named
under the table): `BATON_POSTPROCESS_OFF=parse_check` measures the overhead without the parse
check, the latency side of tests/bench/quality/RESULTS.md's ablation.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import http.client  # noqa: E402
import urllib.parse  # noqa: E402

from scripted_model import CONTROL  # noqa: E402

TRACE_DELAY_MS = 150.0
OVERHEAD_REQUESTS = 300
OVERHEAD_WARMUP = 10
OVERHEAD_GAP_S = 0.05
# Post-processing rules to switch off in Baton (server/conductor/postprocess.rs `Rules`), passed
# through from this script's environment for an ablation; the table's notes name them.
RULES_OFF = "BATON_POSTPROCESS_OFF"
OVERHEAD_ANSWER = "zz_bench(a, b)"
# The model's time in the slow-model overhead row: a real model's, past Baton's 30 ms reparse
# delay. The other overhead rows use a model that answers at once, which no real model does:
# while a request waits, background work runs and the caches go cold, and that row shows what
# the wait costs each server (its model time is subtracted as in the others).
SLOW_MODEL_MS = 40.0
# Typed in the overhead runs, never containing the answer's first character, so no server can
# serve a request from a suggestion the user is typing through.
OVERHEAD_TYPED = "v = a * b + 1\n"
DIDCHANGE_COUNT = 200
DIDCHANGE_GAP_S = 0.02
MEMORY_FILES = 100
MEMORY_LINES = 300
MEMORY_RUNS = 3
# Runs of the module and one-class overhead rows (issue 13 item 4's), each in a fresh server; the
# table gives the median of their p50s and of their p99s. One run's p99 is its fourth-slowest
# request of 300, and a few busy seconds of a shared machine move it by a millisecond or more
# for every server (the reference's 0.59 and 1.76 ms back to back; tests/bench/perf/RESULTS.md).
OVERHEAD_RUNS = 3
REQUEST_CANCELLED = -32800


def log(msg: str) -> None:
    print(f"[bench-perf] {msg}", file=sys.stderr, flush=True)


class HarnessError(Exception):
    pass


# ------------------------------------------------------------------------------------------------
# LSP over stdio
# ------------------------------------------------------------------------------------------------

class ModelProcess:
    """The scripted model (scripted_model.py) in a process of its own, driven over its control
    endpoints: `delay_ms`, `target` and `fixed` are set as attributes, `stats.snapshot()` reads the
    calls (`start`/`end` are `time.monotonic()` seconds, one clock for every process on Linux).
    In this process its threads would share the client's interpreter lock: the client's reader
    thread then waits for the model's thread to record a call's end, and the reverse, which was
    counted as the language server's time."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, str(HERE / "scripted_model.py"), "--delay-ms", "0"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline().strip() if self.proc.stdout else ""
        if not line.startswith("http://"):
            self.proc.kill()
            raise HarnessError(f"the scripted model did not start (it printed {line!r})")
        self.url = line
        host = urllib.parse.urlsplit(line)
        self._conn = http.client.HTTPConnection(host.hostname, host.port, timeout=30)
        self.stats = _RemoteStats(self)

    def _call(self, method: str, path: str, body=None):
        data = None if body is None else json.dumps(body).encode()
        self._conn.request(method, CONTROL + path, body=data,
                           headers={"Content-Type": "application/json"} if data else {})
        return json.loads(self._conn.getresponse().read() or b"null")

    def __setattr__(self, key: str, value) -> None:
        if key in ("delay_ms", "target", "fixed"):
            self._call("POST", "/set", {key: value})
        else:
            object.__setattr__(self, key, value)

    def stop(self) -> None:
        self._conn.close()
        self.proc.kill()
        self.proc.wait()


class _RemoteStats:
    """`ScriptedModel.stats`, read from the model's process."""

    def __init__(self, model: ModelProcess) -> None:
        self._model = model

    def snapshot(self) -> list[dict]:
        return self._model._call("GET", "/calls")

    def reset(self) -> None:
        self._model._call("POST", "/reset")


# ------------------------------------------------------------------------------------------------

class Lsp:
    """One server process. Responses are recorded with their arrival time (`time.monotonic()`);
    requests from the server are answered at once so it never waits on us."""

    def __init__(self, argv: list[str], env: dict, stderr_path: Path, cwd: Path):
        self._stderr = open(stderr_path, "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._stderr, env=env, cwd=str(cwd),
                                     start_new_session=True)
        self._next = 0
        self.responses: dict = {}
        self.arrivals: dict = {}
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
                    raise HarnessError("a frame without Content-Length")
                body = out.read(length)
                now = time.monotonic()
                if len(body) < length:
                    raise EOFError
                msg = json.loads(body)
                if "method" in msg and "id" in msg:
                    result = None
                    if msg["method"] == "workspace/configuration":
                        items = (msg.get("params") or {}).get("items") or []
                        result = [None] * len(items)
                    self._send({"jsonrpc": "2.0", "id": msg["id"], "result": result})
                elif "id" in msg and "method" not in msg:
                    with self._cv:
                        self.responses[msg["id"]] = msg
                        self.arrivals[msg["id"]] = now
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

    def send_request(self, method: str, params) -> tuple[int, float]:
        """Sends a request; returns its id and the time it was written."""
        self._next += 1
        rid = self._next
        self._send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
        return rid, time.monotonic()

    def wait(self, rid: int, timeout: float) -> tuple[dict, float]:
        """The response to `rid` and its arrival time."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while rid not in self.responses:
                left = deadline - time.monotonic()
                if self._closed:
                    raise HarnessError(f"the server closed its output (exit {self.proc.poll()})")
                if left <= 0:
                    raise HarnessError(f"no answer to request {rid} within {timeout:.0f} s")
                self._cv.wait(left)
            return self.responses[rid], self.arrivals[rid]

    def request(self, method: str, params, timeout: float):
        rid, _ = self.send_request(method, params)
        msg, _ = self.wait(rid, timeout)
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


def suggestion_text(result) -> str:
    """The first suggestion's text in an inline completion or completion result ('' for none)."""
    if isinstance(result, dict):
        items = result.get("items") or []
    elif isinstance(result, list):
        items = result
    else:
        items = []
    for it in items:
        if not isinstance(it, dict):
            continue
        ins = it.get("insertText")
        if isinstance(ins, dict):
            ins = ins.get("value")
        if not ins and isinstance(it.get("textEdit"), dict):
            ins = it["textEdit"].get("newText")
        if not ins:
            ins = it.get("label")
        if isinstance(ins, str) and ins:
            return ins
    return ""


def cpu_ns(pid: int) -> int:
    """CPU time of every thread of `pid`, in nanoseconds (first field of schedstat)."""
    total = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0
    for t in tasks:
        try:
            with open(f"/proc/{pid}/task/{t}/schedstat") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    """A memory figure of /proc/PID/status (`VmRSS`, `RssAnon`, ...) in MiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def evict_page_cache(paths: list[str]) -> None:
    """Drops `paths` from the page cache (written back first, then POSIX_FADV_DONTNEED; no
    privileges needed), so a server starts with its executable read from disk, as after a
    reboot, whatever wrote or read it last. Best effort."""
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        except OSError:
            pass
        finally:
            os.close(fd)


# ------------------------------------------------------------------------------------------------
# The servers
# ------------------------------------------------------------------------------------------------

class ServerKind:
    """How to start and talk to one server. `mode` is "trace" or "overhead" (the overhead runs
    switch debounce off where the server has a setting)."""

    name = ""
    method = "textDocument/inlineCompletion"
    # Runs only the overhead rows (the reference server, which keeps no documents).
    overhead_only = False
    # With `--compare --steps`: where the server writes its step marks (server/step_marks.rs);
    # only Baton writes them.
    steps_file: Path | None = None

    def __init__(self, binary: str, work: Path):
        self.binary = binary
        self.work = work

    def argv(self) -> list[str]:
        raise NotImplementedError

    def env(self, model_url: str, mode: str) -> dict:
        home = self.work / "home"
        home.mkdir(parents=True, exist_ok=True)
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
                "XDG_CONFIG_HOME": str(home / ".config"), "XDG_CACHE_HOME": str(home / ".cache"),
                "XDG_DATA_HOME": str(home / ".local" / "share"), "LANG": "C.UTF-8"}

    def init_options(self, model_url: str, mode: str):
        return None

    def capabilities(self) -> dict:
        return {"general": {"positionEncodings": ["utf-16"]},
                "textDocument": {"inlineCompletion": {"dynamicRegistration": False},
                                 "completion": {"completionItem": {"snippetSupport": False}},
                                 "synchronization": {"didSave": False}},
                "workspace": {"configuration": False}}

    def params(self, uri: str, line: int, character: int) -> dict:
        return {"textDocument": {"uri": uri}, "position": {"line": line, "character": character},
                "context": {"triggerKind": 2}}

    def version(self) -> str:
        return ""

    def executables(self) -> list[str]:
        """The files the server's process maps to run (for `evict_page_cache`)."""
        return [self.binary]


def merged(base: dict, extra: dict) -> dict:
    """`base` with `extra` merged in: objects key by key (recursively), any other value replaced."""
    out = dict(base)
    for k, v in extra.items():
        out[k] = merged(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


class Baton(ServerKind):
    name = "baton"
    # `--settings`: merged into the initializationOptions of every run (a variant of a setting).
    settings: dict = {}

    def argv(self) -> list[str]:
        return [self.binary, "--log-file", str(self.work / "baton.log"), "--log-level", "baton=info"]

    def env(self, model_url: str, mode: str) -> dict:
        e = super().env(model_url, mode)
        cfg = self.work / "config.toml"
        cfg.write_text("")
        e["BATON_CONFIG"] = str(cfg)
        e["BATON_DATA_DIR"] = str(self.work / "data")
        # An ablation run (BATON_POSTPROCESS_OFF=parse_check): the latency side of a rule.
        if os.environ.get(RULES_OFF):
            e[RULES_OFF] = os.environ[RULES_OFF]
        if self.steps_file is not None:
            e[STEPS_ENV] = str(self.steps_file)
        return e

    def init_options(self, model_url: str, mode: str):
        completion: dict = {"temperature": 0.0}
        if mode == "overhead":
            completion.update({"debounce_ms": 0, "max_debounce_ms": 0})
        return merged({"provider": {"kind": "openai", "base_url": model_url + "/v1", "model": "qwen2.5-coder"},
                       "completion": completion}, self.settings)

    def version(self) -> str:
        try:
            return subprocess.run([self.binary, "--version"], capture_output=True, text=True,
                                  timeout=30).stdout.strip()
        except OSError:
            return ""


class TabbyAgent(ServerKind):
    """tabby-agent 1.5.0: reads its settings from ~/.tabby-client/agent/config.toml (HOME is a
    folder of the run), talks to a Tabby server (`/v1/health`, `/v1/completions` with
    `segments`), which the scripted model is."""

    name = "tabby-agent"
    # 1.5.0's language server registers `completionProvider` only: `textDocument/inlineCompletion`
    # answers -32601 "Unhandled method". Its completion handler always builds a non-manual request
    # (debounced), whatever the trigger kind.
    method = "textDocument/completion"

    def params(self, uri: str, line: int, character: int) -> dict:
        return {"textDocument": {"uri": uri}, "position": {"line": line, "character": character},
                "context": {"triggerKind": 1}}

    def argv(self) -> list[str]:
        return ["node", self.binary, "--lsp", "--stdio"]

    def executables(self) -> list[str]:
        node = shutil.which("node")
        return [str(Path(node).resolve())] if node else []

    def env(self, model_url: str, mode: str) -> dict:
        e = super().env(model_url, mode)
        d = Path(e["HOME"]) / ".tabby-client" / "agent"
        d.mkdir(parents=True, exist_ok=True)
        text = (f'[server]\nendpoint = "{model_url}"\ntoken = "bench"\n\n'
                "[anonymousUsageTracking]\ndisable = true\n")
        if mode == "overhead":
            text += '\n[completion.debounce]\nmode = "fixed"\ninterval = 0\n'
        (d / "config.toml").write_text(text)
        return e

    def version(self) -> str:
        try:
            pkg = Path(self.binary).resolve().parent.parent / "package.json"
            return "tabby-agent " + json.loads(pkg.read_text())["version"]
        except (OSError, ValueError, KeyError):
            return "tabby-agent"


class LspAi(ServerKind):
    """lsp-ai 0.7.0: `textDocument/completion` only (no inline completion), settings in
    `initializationOptions`: an `open_ai` model on the scripted model's `/v1/completions` with
    Qwen's FIM markers, the `file_store` memory backend. Its rate limit
    (`max_requests_per_second`, default 1) is kept for the trace, raised to 100 for the overhead
    runs (requests there are ~50 ms apart)."""

    name = "lsp-ai"
    method = "textDocument/completion"

    def argv(self) -> list[str]:
        return [self.binary]

    def init_options(self, model_url: str, mode: str):
        model = {"type": "open_ai", "completions_endpoint": model_url + "/v1/completions",
                 "model": "qwen2.5-coder", "auth_token": "bench"}
        if mode == "overhead":
            model["max_requests_per_second"] = 100
        return {"memory": {"file_store": {}},
                "models": {"model1": model},
                "completion": {"model": "model1", "parameters": {
                    "max_context": 2048, "max_tokens": 64,
                    "fim": {"start": "<|fim_prefix|>", "middle": "<|fim_suffix|>", "end": "<|fim_middle|>"}}}}

    def params(self, uri: str, line: int, character: int) -> dict:
        return {"textDocument": {"uri": uri}, "position": {"line": line, "character": character},
                "context": {"triggerKind": 1}}

    def version(self) -> str:
        try:
            return subprocess.run([self.binary, "--version"], capture_output=True, text=True,
                                  timeout=30).stdout.strip()
        except OSError:
            return ""


class Bare(ServerKind):
    """The reference, not a peer: `bare_server` (tests/bench/perf/bare_server.rs), which keeps no
    documents and answers each request with one model call on a fixed prompt. Only the overhead
    runs: its overhead is the floor of the measurement on this machine (harness, pipes, one HTTP
    exchange, the wake-ups of three processes)."""

    name = "bare"
    overhead_only = True

    def argv(self) -> list[str]:
        return [self.binary]

    def init_options(self, model_url: str, mode: str):
        return {"model_url": model_url}

    def version(self) -> str:
        return "the reference (tests/bench/perf/bare_server.rs)"


KINDS = {"baton": Baton, "tabby-agent": TabbyAgent, "lsp-ai": LspAi, "bare": Bare}


def start(kind: ServerKind, model: ModelProcess, mode: str, tag: str) -> Lsp:
    """A fresh server for one run, its executable first dropped from the page cache: how a
    binary's pages came into the cache changes its speed. The same Baton build ran its module
    overhead at p50 0.84 ms from a copy made with `cp` of the linker's output and 0.79 from a
    copy of that copy, and at 0.74 and 0.77 once both were read back from disk
    (tests/bench/perf/RESULTS.md, "Where a binary's pages came from")."""
    evict_page_cache(kind.executables())
    root = kind.work / "root"
    root.mkdir(parents=True, exist_ok=True)
    lsp = Lsp(kind.argv(), kind.env(model.url, mode), kind.work / f"{tag}.stderr", root)
    params = {"processId": os.getpid(), "rootUri": root.as_uri(),
              "workspaceFolders": [{"uri": root.as_uri(), "name": "root"}],
              "capabilities": kind.capabilities(),
              "clientInfo": {"name": "bench-perf", "version": "1"}}
    opts = kind.init_options(model.url, mode)
    if opts is not None:
        params["initializationOptions"] = opts
    lsp.request("initialize", params, 60)
    lsp.notify("initialized", {})
    return lsp


# ------------------------------------------------------------------------------------------------
# Metrics (pure; tests/nes/test_bench_perf.py covers them)
# ------------------------------------------------------------------------------------------------

def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0..100) of `values`; None when empty."""
    if not values:
        return None
    s = sorted(values)
    k = max(1, -(-len(s) * p // 100))
    return s[int(min(k, len(s))) - 1]


def trace_metrics(sent: list[tuple[float, int]], answers: list[tuple[float, int, bool]],
                  pauses: list[int], next_key_at: dict[int, float]) -> dict:
    """The trace's numbers from what the client saw.

    `sent`: (time, document version) of each keystroke in order, version i+1 for keystroke i+1
    (the document opens at version 0). `answers`: (arrival time, the version the request was made
    at, non-empty) of each response. `pauses`: the versions after which the user pauses.
    `next_key_at`: for a pause version, when the next keystroke was sent (absent: the trace ended).

    - stale: non-empty answers whose version is older than the newest version sent when they
      arrive (a suggestion for text the user has already changed).
    - shown: non-empty answers for the newest version.
    - latencies: per pause, from the keystroke to the first non-empty answer for its version
      arriving before the next keystroke; a pause without one is `unanswered`.
    """
    versions = sorted(sent)

    def newest(at: float) -> int:
        v = 0
        for t, ver in versions:
            if t <= at:
                v = max(v, ver)
            else:
                break
        return v

    stale = shown = 0
    for at, ver, nonempty in answers:
        if not nonempty:
            continue
        if ver < newest(at):
            stale += 1
        else:
            shown += 1
    sent_at = {ver: t for t, ver in sent}
    latencies, unanswered = [], 0
    for p in pauses:
        t0 = sent_at[p]
        until = next_key_at.get(p, float("inf"))
        hits = [at for at, ver, ne in answers if ne and ver == p and at <= until]
        if hits:
            latencies.append((min(hits) - t0) * 1000.0)
        else:
            unanswered += 1
    return {"stale": stale, "shown": shown, "latencies_ms": latencies, "unanswered": unanswered}


# ------------------------------------------------------------------------------------------------
# The runs
# ------------------------------------------------------------------------------------------------

def apply_insert(lines: list[str], line: int, ch: int, text: str) -> tuple[int, int]:
    """Inserts `text` (ASCII) at (line, ch) of `lines`; returns the cursor after it."""
    cur = lines[line]
    parts = (cur[:ch] + text + cur[ch:]).split("\n")
    lines[line:line + 1] = parts
    if len(parts) == 1:
        return line, ch + len(text)
    return line + len(parts) - 1, len(parts[-1]) - len(cur[ch:])


def change(uri: str, version: int, line: int, ch: int, text: str) -> dict:
    return {"textDocument": {"uri": uri, "version": version},
            "contentChanges": [{"range": {"start": {"line": line, "character": ch},
                                          "end": {"line": line, "character": ch}},
                                "text": text}]}


def run_trace(kind: ServerKind, model: ModelProcess, trace: dict, trace_delay_ms: float) -> dict:
    initial = trace["initial"]
    lines = initial.split("\n")
    model.target = trace["target"]
    model.delay_ms = trace_delay_ms
    model.stats.reset()
    lsp = start(kind, model, "trace", "trace")
    try:
        uri = (kind.work / "root" / trace["uri_name"]).as_uri()
        lsp.notify("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": trace["language_id"], "version": 0, "text": initial}})
        time.sleep(0.5)  # let the server settle after opening, as an editor's user would
        model.stats.reset()
        ln, ch = trace["cursor"]["line"], trace["cursor"]["character"]
        sent: list[tuple[float, int]] = []
        reqs: dict[int, int] = {}
        pending = None
        pauses = []
        next_key_at: dict[int, float] = {}
        t_next = time.monotonic()
        for i, k in enumerate(trace["keys"], 1):
            t_next += k["gap_ms"] / 1000.0
            delay = t_next - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            if k["gap_ms"] >= 1000 and i > 1:
                pauses.append(i - 1)
                next_key_at[i - 1] = time.monotonic()
            if pending is not None and pending not in lsp.responses:
                lsp.notify("$/cancelRequest", {"id": pending})
            lsp.notify("textDocument/didChange", change(uri, i, ln, ch, k["text"]))
            sent.append((time.monotonic(), i))
            ln, ch = apply_insert(lines, ln, ch, k["text"])
            pending, _ = lsp.send_request(kind.method, kind.params(uri, ln, ch))
            reqs[pending] = i
        pauses.append(len(trace["keys"]))
        time.sleep(trace["final_pause_ms"] / 1000.0)
        with lsp._cv:
            answers = [(lsp.arrivals[rid], reqs[rid], bool(suggestion_text(msg.get("result"))))
                       for rid, msg in lsp.responses.items() if rid in reqs]
            codes = [msg["error"].get("code") for rid, msg in lsp.responses.items()
                     if rid in reqs and isinstance(msg.get("error"), dict)]
            errors = sum(1 for c in codes if c != REQUEST_CANCELLED)
            cancelled = sum(1 for c in codes if c == REQUEST_CANCELLED)
        calls = model.stats.snapshot()
    finally:
        lsp.close()
    m = trace_metrics(sent, answers, pauses, next_key_at)
    m.update({"started": len(calls), "completed": sum(1 for c in calls if c["done"]),
              "errors": errors, "cancelled": cancelled, "requests": len(reqs), "answered": len(answers)})
    return m


def module_file(n_lines: int, at: float = 0.5) -> tuple[str, tuple[int, int]]:
    """A module of top-level functions, `n_lines` long, and the cursor: the end of an empty,
    indented line in the body of the function at fraction `at` of it (the middle by default)."""
    out = ["import math", ""]
    i = 0
    cursor = None
    while len(out) < n_lines - 10:
        out += [f"def func_{i}(a, b):", f'    """Function {i}."""', f"    x = a * {i} + b",
                "    y = math.sqrt(abs(x))", "    if x > y:", "        return x - y", "    "]
        if cursor is None and len(out) > int(n_lines * at):
            cursor = (len(out) - 1, 4)
        out += ["    return x + y", "", ""]
        i += 1
    while len(out) < n_lines:
        out.append("")
    return "\n".join(out) + "\n", cursor


def class_file(n_lines: int) -> tuple[str, tuple[int, int]]:
    """A file that is one class, `n_lines` long, and the cursor in its middle method's body."""
    out = ["import math", "", "", "class Big:", '    """One class."""', ""]
    i = 0
    cursor = None
    while len(out) < n_lines - 10:
        out += [f"    def method_{i}(self, a, b):", f"        x = a * {i} + b",
                "        y = math.sqrt(abs(x))", "        if x > y:", "            return x - y",
                "        "]
        if cursor is None and len(out) > n_lines // 2:
            cursor = (len(out) - 1, 8)
        out += ["        return x + y", ""]
        i += 1
    while len(out) < n_lines:
        out.append("")
    return "\n".join(out) + "\n", cursor


def open_files(kind: ServerKind, lsp: Lsp, count: int, tag: str) -> str | None:
    """Opens `count` Python files of MEMORY_LINES lines (small functions) and returns the last URI."""
    last = None
    for f in range(count):
        body = [f"def f{f}_{i}(a):" if i % 3 == 0 else (f"    b = a + {i}" if i % 3 == 1 else "    return b")
                for i in range(MEMORY_LINES)]
        uri = (kind.work / "root" / f"{tag}_{f:03}.py").as_uri()
        lsp.notify("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": "python", "version": 0, "text": "\n".join(body) + "\n"}})
        last = uri
    return last


def run_overhead(kind: ServerKind, model: ModelProcess, name: str, text: str,
                 cursor: tuple[int, int], with_didchange: bool, others: int = 0,
                 language_id: str = "python", extension: str = "py", model_ms: float = 0.0,
                 run: int = 0) -> dict:
    """Overhead of OVERHEAD_REQUESTS completion requests in `text` (opened as `language_id`, in
    a file named `name.extension`), each after a one-character change, with `others` other
    Python files open beside it, the model answering after `model_ms`. `run` numbers a repeat
    (its server's log file)."""
    model.target = ""
    model.fixed = OVERHEAD_ANSWER
    model.delay_ms = model_ms
    lsp = start(kind, model, "overhead", f"overhead-{name}" + (f"-{run + 1}" if run else ""))
    try:
        open_files(kind, lsp, others, f"other_{name}")
        uri = (kind.work / "root" / f"{name}.{extension}").as_uri()
        lsp.notify("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": language_id, "version": 0, "text": text}})
        lines = text.split("\n")
        ln, ch = cursor
        indent = " " * ch
        version = 0
        samples, samples_woke, calls_made, nonempty, errors = [], [], 0, 0, 0
        # Each measured request's client times and its model calls', for `overhead_parts`.
        spans: list[tuple[float, float, list[tuple[float, float]]]] = []
        typed = 0
        for i in range(OVERHEAD_WARMUP + OVERHEAD_REQUESTS):
            c = OVERHEAD_TYPED[typed % len(OVERHEAD_TYPED)]
            typed += 1
            ins = c + indent if c == "\n" else c
            version += 1
            before = len(model.stats.snapshot())
            lsp.notify("textDocument/didChange", change(uri, version, ln, ch, ins))
            ln, ch = apply_insert(lines, ln, ch, ins)
            rid, t0 = lsp.send_request(kind.method, kind.params(uri, ln, ch))
            msg, t1 = lsp.wait(rid, 30)
            # Every call's end is recorded before its answer is written, so it is here already.
            calls = model.stats.snapshot()[before:]
            model_s = sum((c2["end"] or t1) - c2["start"] for c2 in calls)
            # The same, with the model's time from when its process woke up to the request.
            woke_s = sum((c2["end"] or t1) - c2["woke"] for c2 in calls)
            if i >= OVERHEAD_WARMUP:
                samples.append((t1 - t0 - model_s) * 1000.0)
                spans.append((t0, t1, [(c2["start"], c2["end"] or t1) for c2 in calls]))
                samples_woke.append((t1 - t0 - woke_s) * 1000.0)
                calls_made += len(calls)
                nonempty += bool(suggestion_text(msg.get("result")))
                errors += "error" in msg
            time.sleep(OVERHEAD_GAP_S)
        out = {"p50": percentile(samples, 50), "p99": percentile(samples, 99),
               "woke_p50": percentile(samples_woke, 50), "woke_p99": percentile(samples_woke, 99),
               "calls": calls_made, "nonempty": nonempty, "errors": errors, "n": len(samples)}
        # Only with step marks: the table's JSON keeps the numbers, not every request's times.
        if kind.steps_file is not None:
            out["spans"] = spans
        if with_didchange:
            out["didchange_us"] = didchange_cost(lsp, uri, lines, (ln, ch), version, typed, indent)
    finally:
        lsp.close()
    model.fixed = "value = 1"
    return out


def didchange_cost(lsp: Lsp, uri: str, lines: list[str], cursor: tuple[int, int], version: int,
                   typed: int, indent: str) -> float:
    """CPU per change while typing on where the overhead run stopped: the same statements
    (OVERHEAD_TYPED from its `typed`th character, a newline followed by `indent`), so the text
    is code being written, as in the requests' run. (Until 2026-12-05 every change added a `w`
    to one word: after the 310 characters of the module run, `v ` and then a 200-letter name, a
    syntax error whose longest tokens sent tree-sitter's error recovery into 15 ms reparses of
    the rest of the module; tests/bench/perf/RESULTS.md.)"""
    pid = lsp.proc.pid
    time.sleep(1.0)
    span = DIDCHANGE_COUNT * DIDCHANGE_GAP_S + 1.0
    c0, t0 = cpu_ns(pid), time.monotonic()
    time.sleep(span)
    idle_rate = (cpu_ns(pid) - c0) / (time.monotonic() - t0)
    ln, ch = cursor
    c1, t1 = cpu_ns(pid), time.monotonic()
    for i in range(DIDCHANGE_COUNT):
        c = OVERHEAD_TYPED[(typed + i) % len(OVERHEAD_TYPED)]
        ins = c + indent if c == "\n" else c
        version += 1
        lsp.notify("textDocument/didChange", change(uri, version, ln, ch, ins))
        ln, ch = apply_insert(lines, ln, ch, ins)
        time.sleep(DIDCHANGE_GAP_S)
    time.sleep(1.0)
    busy = cpu_ns(pid) - c1 - idle_rate * (time.monotonic() - t1)
    return max(0.0, busy) / DIDCHANGE_COUNT / 1000.0


def run_floor(kind: ServerKind, model: ModelProcess, text: str, cursor: tuple[int, int]) -> dict:
    model.target = ""
    model.fixed = OVERHEAD_ANSWER
    model.delay_ms = 0.0
    lsp = start(kind, model, "overhead", "floor")
    try:
        uri = (kind.work / "root" / "floor.py").as_uri()
        absent = (kind.work / "root" / "not_open.py").as_uri()
        lsp.notify("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": "python", "version": 0, "text": text}})
        lines = text.split("\n")
        ln, ch = cursor
        samples = []
        for i in range(OVERHEAD_WARMUP + OVERHEAD_REQUESTS):
            c = OVERHEAD_TYPED[i % len(OVERHEAD_TYPED)]
            ins = c + " " * ch if c == "\n" else c
            lsp.notify("textDocument/didChange", change(uri, i + 1, ln, ch, ins))
            ln, ch = apply_insert(lines, ln, ch, ins)
            rid, t0 = lsp.send_request(kind.method, kind.params(absent, 0, 0))
            _, t1 = lsp.wait(rid, 30)
            if i >= OVERHEAD_WARMUP:
                samples.append((t1 - t0) * 1000.0)
            time.sleep(OVERHEAD_GAP_S)
        return {"p50": percentile(samples, 50), "p99": percentile(samples, 99)}
    finally:
        lsp.close()


def median_of_runs(runs: list[dict]) -> dict:
    """The first of `runs` (overhead runs of one row; its other numbers stand for the row) with
    its p50 and p99 replaced by the medians of all the runs' (nearest rank, as the memory row's;
    runs without a number left out, None when none has one), and every run's own `(p50, p99)`
    kept under `runs`."""
    def median(key: str):
        return percentile([r[key] for r in runs if r.get(key) is not None], 50)
    return {**runs[0], "p50": median("p50"), "p99": median("p99"),
            "runs": [(r.get("p50"), r.get("p99")) for r in runs]}


def run_memory(kind: ServerKind, model: ModelProcess) -> dict:
    """The median of MEMORY_RUNS runs of `memory_once`: RSS and its private part, MiB."""
    runs = []
    for i in range(MEMORY_RUNS):
        runs.append(memory_once(kind, model, i))
    return {"rss": percentile([r[0] for r in runs], 50), "anon": percentile([r[1] for r in runs], 50),
            "runs": runs}


def memory_once(kind: ServerKind, model: ModelProcess, i: int) -> tuple[float, float]:
    model.target = ""
    model.delay_ms = 0.0
    lsp = start(kind, model, "trace", f"memory-{i}")
    try:
        last = open_files(kind, lsp, MEMORY_FILES, "mod")
        rid, _ = lsp.send_request(kind.method, kind.params(last, MEMORY_LINES - 1, 12))
        lsp.wait(rid, 30)
        time.sleep(1.0)
        return rss_mib(lsp.proc.pid), rss_mib(lsp.proc.pid, "RssAnon")
    finally:
        lsp.close()


# ------------------------------------------------------------------------------------------------
# Report
# ------------------------------------------------------------------------------------------------

def fmt(v, digits: int = 1) -> str:
    if v is None:
        return "-"
    return f"{v:.{digits}f}"


def p50_p99(run: str):
    """A table cell: the overhead run `run`'s p50 / p99 in ms (KeyError when it did not run)."""
    return lambda r: f"{fmt(r[run]['p50'], 2)} / {fmt(r[run]['p99'], 2)}"


def report(results: dict, command: str, meta: dict) -> str:
    names = list(results)
    rows = [
        ("model calls started / completed", lambda r: f"{r['trace']['started']} / {r['trace']['completed']}"),
        ("suggestions shown (answers for the newest version)", lambda r: str(r["trace"]["shown"])),
        ("stale answers", lambda r: str(r["trace"]["stale"])),
        ("requests answered at all (errors included)",
         lambda r: f"{r['trace']['answered']} / {r['trace']['requests']}"),
        ("pauses answered", lambda r: f"{4 - r['trace']['unanswered']} / 4"),
        ("pause-to-suggestion p50 / p90 (ms)",
         lambda r: f"{fmt(percentile(r['trace']['latencies_ms'], 50), 0)} / "
                   f"{fmt(percentile(r['trace']['latencies_ms'], 90), 0)}"),
        (f"overhead, 10,000-line module p50 / p99 (ms, median of {OVERHEAD_RUNS} runs)", p50_p99("module")),
        (f"overhead, 10,000-line one-class file p50 / p99 (ms, median of {OVERHEAD_RUNS} runs)", p50_p99("class")),
        ("overhead, the module at line ~400 (its first 32 KB) p50 / p99 (ms)", p50_p99("head")),
        (f"overhead, the module with {MEMORY_FILES} other files open p50 / p99 (ms)", p50_p99("others")),
        ("overhead, the module opened as plain text p50 / p99 (ms)", p50_p99("plain")),
        (f"overhead, the module with a {SLOW_MODEL_MS:.0f} ms model p50 / p99 (ms)", p50_p99("slow")),
        ("  model calls in the 300 overhead requests (module / class)",
         lambda r: f"{r['module']['calls']} / {r['class']['calls']}"),
        ("  floor: a document not open, after a change p50 / p99 (ms)", p50_p99("floor")),
        ("didChange cost, 10,000-line module (µs CPU)", lambda r: fmt(r["module"].get("didchange_us"), 0)),
        ("memory, 100 open files of 300 lines (MiB RSS, median of 3)", lambda r: fmt(r["memory"]["rss"], 1)),
        ("  of which private (RssAnon; the rest is the executable's mapped pages)",
         lambda r: fmt(r["memory"]["anon"], 1)),
    ]
    def cell(f, r: dict) -> str:
        try:
            return f(r)
        except KeyError:  # a run this server did not do (the reference, or an older JSON)
            return "-"

    w0 = max(len(r[0]) for r in rows)
    cells = [[cell(f, results[n]) for n in names] for _, f in rows]
    ws = [max(len(n), *(len(c[i]) for c in cells)) for i, n in enumerate(names)]
    out = [f"| {'':<{w0}} | " + " | ".join(f"{n:>{ws[i]}}" for i, n in enumerate(names)) + " |",
           f"|{'-' * (w0 + 2)}|" + "|".join("-" * (w + 1) + ":" for w in ws) + "|"]
    for (label, _), c in zip(rows, cells):
        out.append(f"| {label:<{w0}} | " + " | ".join(f"{v:>{ws[i]}}" for i, v in enumerate(c)) + " |")
    notes = [
        "",
        f"{meta['date']}, commit {meta['commit']}, {meta['machine']}."
        + (f" Baton with {RULES_OFF}={os.environ[RULES_OFF]}." if os.environ.get(RULES_OFF) else "")
        + (f" Baton's settings: {json.dumps(meta['settings'])}." if meta.get("settings") else ""),
        "Versions: " + "; ".join(f"{n}: {results[n]['version'] or '?'}" for n in names) + ".",
        f"Trace: 81 keystrokes, 4 pauses of 2.5 s, model {meta.get('trace_delay_ms', TRACE_DELAY_MS):.0f} ms; each keystroke a didChange and an "
        "automatic request, the previous one cancelled. Overhead: 300 requests after one-character "
        f"changes, model 0 ms (one row {SLOW_MODEL_MS:.0f} ms), response time minus model time; the "
        f"module's and the one-class file's rows give the median of {OVERHEAD_RUNS} runs' p50s and of "
        "their p99s, each run a fresh server (every run's in the JSON, `runs`).",
    ]
    requests = {"baton": "baton textDocument/inlineCompletion (triggerKind Automatic)",
                "tabby-agent": "tabby-agent textDocument/completion (its 1.5.0 language server has no "
                               "inline completion: -32601)",
                "lsp-ai": "lsp-ai textDocument/completion (its only completion request)",
                "bare": "bare textDocument/inlineCompletion"}
    overhead = {"baton": "baton completion.debounce_ms = max_debounce_ms = 0",
                "tabby-agent": "tabby-agent completion.debounce fixed 0",
                "lsp-ai": "lsp-ai max_requests_per_second 100 (the trace keeps its default of 1)",
                "bare": "bare has none"}
    notes.append("Requests: " + "; ".join(requests[n] for n in names) + ".")
    notes.append("Overhead runs without debounce: " + "; ".join(overhead[n] for n in names) + ".")
    if "bare" in names:
        notes.append("bare: the reference, not a peer (tests/bench/perf/bare_server.rs): no documents, "
                     "one model call on a fixed prompt per request, one thread, blocking I/O; the "
                     "module rows only. Its overhead is the floor of the measurement on this machine.")
    for n in names:
        if "trace" not in results[n]:
            continue
        t = results[n]["trace"]
        extra = []
        if t["errors"]:
            extra.append(f"{t['errors']} error responses in the trace")
        for f in ("module", "class"):
            if f not in results[n]:  # `--trace-only`
                continue
            if results[n][f]["errors"]:
                extra.append(f"{results[n][f]['errors']} error responses in the {f} overhead run")
            if results[n][f]["nonempty"] == 0:
                extra.append(f"no suggestion in the {f} overhead run")
        if extra:
            notes.append(f"{n}: " + "; ".join(extra) + ".")
    notes += ["", f"command: {command}"]
    return "\n".join(out + notes)


# Comparing two Baton builds (`--compare OLD NEW`): the overhead rows only, the two builds' runs
# interleaved on one scripted model, each in a fresh process from an executable read from disk.
COMPARE_ROWS = ("module", "class", "plain")


def compare_order(rounds: int) -> list[str]:
    """The order of a comparison's runs of one row: A B B A, then B A A B, `rounds` times: each
    build runs 4 * `rounds` times, as often in each slot of a round as the other. The slot alone
    moved a build's p50 by ~0.04 ms (the second run of a round faster, the first slower), as much
    as the changes compared (tests/bench/perf/RESULTS.md, "The probe's second slot")."""
    return [b for _ in range(rounds) for b in ("A", "B", "B", "A", "B", "A", "A", "B")]


def run_compare_row(kind: ServerKind, model: ModelProcess, row: str) -> dict:
    """One overhead run of `row` (one of COMPARE_ROWS), as the table's row of that name."""
    module_text, module_cursor = module_file(10_000)
    if row == "module":
        return run_overhead(kind, model, "module", module_text, module_cursor, False)
    if row == "class":
        class_text, class_cursor = class_file(10_000)
        return run_overhead(kind, model, "oneclass", class_text, class_cursor, False)
    return run_overhead(kind, model, "plain", module_text, module_cursor, False,
                        language_id="plaintext", extension="txt")


def compare_report(runs: dict, builds: dict, command: str, meta: dict) -> str:
    """The comparison's table. `runs[row]["A" | "B"]`: each run's (p50, p99) in ms, in the order
    run; `builds["A" | "B"]`: what each build is. Each cell is the mean of its runs, then the
    lowest and highest; the last column is B's mean minus A's."""
    def mean(v: list[float]) -> float:
        return sum(v) / len(v)

    def cell(pairs: list[tuple[float, float]]) -> str:
        p50s, p99s = [p[0] for p in pairs], [p[1] for p in pairs]
        return (f"{mean(p50s):.2f} / {mean(p99s):.2f} "
                f"({min(p50s):.2f}-{max(p50s):.2f} / {min(p99s):.2f}-{max(p99s):.2f})")

    def delta(row: str, i: int) -> float:
        return mean([p[i] for p in runs[row]["B"]]) - mean([p[i] for p in runs[row]["A"]])

    n = {b: min(len(runs[row][b]) for row in runs) for b in ("A", "B")}
    head = ["row", f"A p50 / p99 (mean of {n['A']}; lowest-highest)",
            f"B p50 / p99 (mean of {n['B']}; lowest-highest)", "B - A (ms)"]
    body = [[row, cell(runs[row]["A"]), cell(runs[row]["B"]), f"{delta(row, 0):+.2f} / {delta(row, 1):+.2f}"]
            for row in runs]
    ws = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    out = ["| " + " | ".join(f"{h:<{ws[i]}}" for i, h in enumerate(head)) + " |",
           "|" + "|".join("-" * (w + 2) for w in ws) + "|"]
    out += ["| " + " | ".join(f"{c:<{ws[i]}}" for i, c in enumerate(r)) + " |" for r in body]
    out += ["", f"A: {builds['A']}", f"B: {builds['B']}",
            f"{meta['date']}, {meta['machine']}. Overhead rows as in the side-by-side table (300 requests "
            "after one-character changes, model 0 ms, response time minus model time); each run a "
            "fresh server from an executable read from disk; runs in the order A B B A, B A A B.",
            "", f"command: {command}"]
    return "\n".join(out)


# Step marks (`--compare --steps`): the numbers of server/step_marks.rs's `Step`, in the order a
# completion request passes them.
STEPS_ENV = "BATON_STEP_MARKS"
STEP_NAMES = {1: "input read", 2: "body framed", 3: "body classified", 4: "didChange start",
              5: "didChange end", 6: "completion start", 7: "snapshot", 8: "model asked",
              9: "request ready", 10: "answer head", 11: "text collected", 12: "checked",
              13: "completion end", 14: "writer got", 15: "written"}
COMPLETION_START, INPUT_READ, WRITTEN = 6, 1, 15
# The first requests of a run are left out of the step table: they warm the server up.
STEPS_WARMUP = 10


def read_marks(path: Path) -> list[tuple[int, int]]:
    """A step marks file: one `<step> <nanoseconds>` per line; [] when it is missing (a build
    without step marks, or a server that did not stop cleanly)."""
    try:
        lines = path.read_text().split("\n")
    except OSError:
        return []
    marks = []
    for line in lines:
        parts = line.split()
        if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
            marks.append((int(parts[0]), int(parts[1])))
    return marks


def request_steps(marks: list[tuple[int, int]]) -> list[list[tuple[str, float]]]:
    """Each completion request's steps, in us: from the input read that brought it (its
    `didChange` came in the same read) to its answer written, as `(from -> to, us)` between
    consecutive marks; a step passed twice (two bodies framed) is named `... #2` the second
    time. The first STEPS_WARMUP requests are left out."""
    requests = []
    for i, (step, _) in enumerate(marks):
        if step != COMPLETION_START:
            continue
        first = next((j for j in range(i, -1, -1) if marks[j][0] == INPUT_READ), None)
        last = next((j for j in range(i, len(marks)) if marks[j][0] == WRITTEN), None)
        if first is None or last is None:
            continue
        seen: dict = {}
        steps = []
        for (a, ta), (b, tb) in zip(marks[first:last + 1], marks[first + 1:last + 1]):
            name = f"{STEP_NAMES.get(a, a)} -> {STEP_NAMES.get(b, b)}"
            seen[name] = seen.get(name, 0) + 1
            steps.append((name if seen[name] == 1 else f"{name} #{seen[name]}", (tb - ta) / 1000.0))
        requests.append(steps)
    return requests[STEPS_WARMUP:]


# The parts of a request's overhead (`overhead_parts`), in the order the request passes them.
PARTS = ("client's write -> input read", "Baton before the model", "request ready -> model's socket",
         "model's answer -> answer head", "Baton after the model", "writer got -> client's read")
REQUEST_READY, ANSWER_HEAD, WRITER_GOT = 9, 10, 14


def overhead_parts(marks: list[tuple[int, int]], spans: list) -> list[list[tuple[str, float]]]:
    """Each request's overhead (its response time less its model call's time) cut into PARTS, in
    us, from the server's step marks set beside the client's and the model's own clocks (all
    `CLOCK_MONOTONIC`): the pipe into the server, the server's work before the model, the model's
    socket each way, the server's work after, and the pipe out to the client. `spans`: each
    request's `(t0, t1, [(call start, call end)])` in seconds, as `run_overhead` keeps them. Only
    requests with one model call and every mark are cut; the parts sum to their overhead. []
    when the marks are not on that clock (builds before marks were `CLOCK_MONOTONIC`)."""
    out = []
    i = 0
    for t0, t1, calls in spans:
        if len(calls) != 1:
            continue
        lo, hi = int(t0 * 1e9) - 2_000_000, int(t1 * 1e9)
        while i < len(marks) and marks[i][1] < lo:
            i += 1
        window = []
        for step, ns in marks[i:]:
            if ns > hi:
                break
            window.append((step, ns / 1e9))
        start = next((k for k, (step, _) in enumerate(window) if step == COMPLETION_START), None)
        if start is None:
            continue
        read = next((t for step, t in reversed(window[:start]) if step == INPUT_READ), None)
        found = {s: next((t for step, t in window[start:] if step == s), None)
                 for s in (REQUEST_READY, ANSWER_HEAD, WRITER_GOT)}
        if read is None or None in found.values():
            continue
        (c0, c1), = calls
        times = [t0, read, found[REQUEST_READY], c0, c1, found[ANSWER_HEAD], found[WRITER_GOT], t1]
        # The model's own time (c0 -> c1) is left out, as the overhead leaves it out.
        edges = [(0, 1), (1, 2), (2, 3), (4, 5), (5, 6), (6, 7)]
        out.append([(PARTS[k], (times[b] - times[a]) * 1e6) for k, (a, b) in enumerate(edges)])
    return out


def step_table(requests: dict, label: str = "step (us)") -> str:
    """The step table of a comparison: `requests["A" | "B"]` is each build's requests (as
    `request_steps` gives them, all runs together). One line per step that at least a third of
    either build's requests passed, in the order first seen: how many passed it, and its p50 and
    p90 in us for A and B, and B's p50 minus A's."""
    def pct(v: list[float], p: float) -> float:
        v = sorted(v)
        return v[min(len(v) - 1, int(len(v) * p / 100))]

    per: dict = {"A": {}, "B": {}}
    order: list[str] = []
    for b in ("A", "B"):
        for steps in requests[b]:
            for name, us in steps:
                if name not in order:
                    order.append(name)
                per[b].setdefault(name, []).append(us)
    n = {b: len(requests[b]) for b in ("A", "B")}
    head = [label, "A n", "B n", "A p50", "B p50", "A p90", "B p90", "B - A p50"]
    body = []
    for name in order:
        a, b = per["A"].get(name, []), per["B"].get(name, [])
        if 3 * len(a) < n["A"] and 3 * len(b) < n["B"]:
            continue
        cells = [f"{pct(v, q):.1f}" if v else "-" for q in (50, 90) for v in (a, b)]
        diff = f"{pct(b, 50) - pct(a, 50):+.1f}" if a and b else "-"
        body.append([name, str(len(a)), str(len(b)), *cells, diff])
    ws = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    out = ["| " + " | ".join(f"{c:<{ws[i]}}" if i == 0 else f"{c:>{ws[i]}}" for i, c in enumerate(r)) + " |"
           for r in [head]]
    out.append("|" + "|".join("-" * (w + 2) for w in ws) + "|")
    out += ["| " + " | ".join(f"{c:<{ws[i]}}" if i == 0 else f"{c:>{ws[i]}}" for i, c in enumerate(r)) + " |"
            for r in body]
    return "\n".join(out)


def end_runs(model: ModelProcess, work_root: Path, keep: bool) -> None:
    """Stops the scripted model and removes the runs' work folder, unless `keep` (its logs)."""
    model.stop()
    if keep:
        log(f"work folder kept: {work_root}")
    else:
        shutil.rmtree(work_root, ignore_errors=True)


def main_compare(args) -> int:
    rows = [r.strip() for r in args.rows.split(",") if r.strip()]
    if args.rounds < 1 or not rows:
        log("--compare needs --rounds of 1 or more and at least one row")
        return 2
    for r in rows:
        if r not in COMPARE_ROWS:
            log(f"unknown row {r!r} ({', '.join(COMPARE_ROWS)})")
            return 2
    paths = {"A": str(Path(args.compare[0]).resolve()), "B": str(Path(args.compare[1]).resolve())}
    for b, path in paths.items():
        if not os.access(path, os.X_OK):
            log(f"build {b}: no executable at {path}")
            return 2
    meta = {"date": time.strftime("%Y-%m-%d", time.gmtime()), "machine": f"{os.cpu_count()} cores"}
    meta.update(json.loads(args.meta))
    work_root = Path(tempfile.mkdtemp(prefix="bench-perf-compare-"))
    model = ModelProcess()
    runs: dict = {}
    steps: dict = {}
    parts: dict = {}
    builds = {}
    try:
        for b, path in paths.items():
            digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]
            builds[b] = f"{path}, sha256 {digest} ({Baton(path, work_root).version() or '?'})"
        order = compare_order(args.rounds)
        for row in rows:
            runs[row] = {"A": [], "B": []}
            for i, b in enumerate(order):
                work = work_root / f"{row}-{i}"
                work.mkdir()
                kind = Baton(paths[b], work)
                if args.steps:
                    kind.steps_file = work / "steps.txt"
                out = run_compare_row(kind, model, row)
                runs[row][b].append((out["p50"], out["p99"]))
                if args.steps:
                    marks = read_marks(work / "steps.txt")
                    steps.setdefault(row, {"A": [], "B": []})[b] += request_steps(marks)
                    parts.setdefault(row, {"A": [], "B": []})[b] += overhead_parts(marks, out.get("spans", []))
                log(f"{row} {i + 1}/{len(order)}: {b} p50 {out['p50']:.2f} p99 {out['p99']:.2f} ms")
    finally:
        end_runs(model, work_root, args.keep)
    if args.out:
        Path(args.out).write_text(json.dumps({"builds": builds, "runs": runs}, indent=1))
    print(compare_report(runs, builds, args.command, meta))
    for row, requests in steps.items():
        print(f"\nsteps of the {row} row, every run of each build (server/step_marks.rs):")
        if not requests["A"] and not requests["B"]:
            print("(no step marks: builds before step_marks, or servers that did not stop cleanly)")
            continue
        print(step_table(requests))
        if row in parts:
            print(f"\nwhere the {row} row's overhead goes (requests with one model call; the parts sum to it):")
            if not parts[row]["A"] and not parts[row]["B"]:
                print("(no marks on the client's clock: builds before the marks were CLOCK_MONOTONIC)")
            else:
                print(step_table(parts[row], "part (us)"))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description="Baton, tabby-agent and lsp-ai side by side on one scripted model.")
    ap.add_argument("--servers", default="baton,tabby-agent,lsp-ai")
    ap.add_argument("--baton", default="")
    ap.add_argument("--compare", nargs=2, metavar=("OLD", "NEW"),
                    help="compare two Baton builds on the overhead rows instead (A = OLD, B = NEW)")
    ap.add_argument("--rounds", type=int, default=2, help="with --compare: rounds of A B B A, B A A B")
    ap.add_argument("--rows", default="module,class", help="with --compare: rows among " + ",".join(COMPARE_ROWS))
    ap.add_argument("--steps", action="store_true",
                    help="with --compare: each step's time too, from the builds' step marks (" + STEPS_ENV + ")")
    ap.add_argument("--tabby-agent", default="")
    ap.add_argument("--lsp-ai", default="")
    ap.add_argument("--bare", default="", help="the reference server (cargo build --release --example bare_server)")
    ap.add_argument("--command", default="")
    ap.add_argument("--meta", default="{}")
    ap.add_argument("--out", default="")
    ap.add_argument("--trace-delay-ms", type=float, default=TRACE_DELAY_MS,
                    help="the model's delay in the typing trace (the overhead runs use 0)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    ap.add_argument("--settings", default="{}",
                    help="JSON merged into Baton's initializationOptions, e.g. "
                         "'{\"completion\": {\"max_debounce_ms\": 100}}' (the overhead runs' zero debounce "
                         "included)")
    ap.add_argument("--trace-only", action="store_true", help="only the typing trace (its rows of the table)")
    args = ap.parse_args()
    if args.compare:
        return main_compare(args)
    if not args.baton:
        log("--baton is needed (or --compare OLD NEW)")
        return 2
    names = [s.strip() for s in args.servers.split(",") if s.strip()]
    for n in names:
        if n not in KINDS:
            log(f"unknown server {n!r} (baton, tabby-agent, lsp-ai, bare)")
            return 2
    binaries = {n: str(Path(b).resolve()) if b else ""
                for n, b in (("baton", args.baton), ("tabby-agent", args.tabby_agent), ("lsp-ai", args.lsp_ai),
                             ("bare", args.bare))}
    trace = json.loads((HERE / "trace.json").read_text())
    module_text, module_cursor = module_file(10_000)
    _, head_cursor = module_file(10_000, 0.04)
    class_text, class_cursor = class_file(10_000)
    meta = {"date": time.strftime("%Y-%m-%d", time.gmtime()), "commit": "?",
            "machine": f"{os.cpu_count()} cores"}
    meta.update(json.loads(args.meta))
    meta["trace_delay_ms"] = args.trace_delay_ms
    try:
        Baton.settings = json.loads(args.settings)
    except json.JSONDecodeError as e:
        log(f"--settings is not JSON: {e}")
        return 2
    if not isinstance(Baton.settings, dict):
        log("--settings must be a JSON object")
        return 2
    meta["settings"] = Baton.settings
    work_root = Path(tempfile.mkdtemp(prefix="bench-perf-"))
    model = ModelProcess()
    results: dict = {}
    try:
        for n in names:
            if not binaries[n]:
                log(f"no binary for {n}")
                return 2
            work = work_root / n
            work.mkdir()
            kind = KINDS[n](binaries[n], work)
            r: dict = {"version": kind.version()}
            if kind.overhead_only:
                log(f"{n}: overhead on the 10,000-line module (the reference: one model call a request), "
                    f"{OVERHEAD_RUNS} runs")
                r["module"] = median_of_runs([run_overhead(kind, model, "module", module_text, module_cursor, False,
                                                           run=i) for i in range(OVERHEAD_RUNS)])
                log(f"{n}: overhead on the 10,000-line module with a {SLOW_MODEL_MS:.0f} ms model")
                r["slow"] = run_overhead(kind, model, "slow", module_text, module_cursor, False,
                                         model_ms=SLOW_MODEL_MS)
                results[n] = r
                continue
            log(f"{n}: typing trace")
            r["trace"] = run_trace(kind, model, trace, args.trace_delay_ms)
            if args.trace_only:
                results[n] = r
                continue
            log(f"{n}: overhead on the 10,000-line module ({OVERHEAD_RUNS} runs), didChange cost (the first)")
            r["module"] = median_of_runs([run_overhead(kind, model, "module", module_text, module_cursor, i == 0,
                                                       run=i) for i in range(OVERHEAD_RUNS)])
            log(f"{n}: overhead on the 10,000-line one-class file ({OVERHEAD_RUNS} runs)")
            r["class"] = median_of_runs([run_overhead(kind, model, "oneclass", class_text, class_cursor, False,
                                                      run=i) for i in range(OVERHEAD_RUNS)])
            log(f"{n}: overhead in the 10,000-line module near its top (where typing changes its first 32 KB)")
            r["head"] = run_overhead(kind, model, "head", module_text, head_cursor, False)
            log(f"{n}: overhead in the 10,000-line module with {MEMORY_FILES} other files open")
            r["others"] = run_overhead(kind, model, "others", module_text, module_cursor, False, MEMORY_FILES)
            log(f"{n}: overhead in the 10,000-line module opened as plain text")
            r["plain"] = run_overhead(kind, model, "plain", module_text, module_cursor, False,
                                      language_id="plaintext", extension="txt")
            log(f"{n}: overhead on the 10,000-line module with a {SLOW_MODEL_MS:.0f} ms model")
            r["slow"] = run_overhead(kind, model, "slow", module_text, module_cursor, False, model_ms=SLOW_MODEL_MS)
            log(f"{n}: floor (requests for a document not open, after changes to the module)")
            r["floor"] = run_floor(kind, model, module_text, module_cursor)
            log(f"{n}: memory with {MEMORY_FILES} open files")
            r["memory"] = run_memory(kind, model)
            results[n] = r
    finally:
        end_runs(model, work_root, args.keep)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))
    print(report(results, args.command, meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
