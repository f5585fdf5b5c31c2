"""The scripted model of the performance benchmark (issue 13): one HTTP server on 127.0.0.1 that
speaks every wire format the three language servers use, answers the same text after the same
configurable delay, and counts the calls it started and completed.

Wire formats:
- OpenAI-compatible `POST /v1/completions`, streamed (`"stream": true`, server-sent events, as
  Baton asks) or as one JSON body (lsp-ai); `GET /v1/models` (Baton's reachability check).
- Tabby's `POST /v1/completions` (a body with `segments`), `GET|POST /v1/health`,
  `GET /v1beta/server_setting` (answering that client-side telemetry is off) and `POST /v1/events`
  (tabby-agent).

The answer: a function of the document text before the cursor only, so every server gets the same
text for the same document. With a `target` (the text the typing trace ends with), the rest of
the target's line after the cursor (or its next line, at the end of a line), as a model that
guesses right would; otherwise, or when the prefix is not in the target, `fixed`.

Timing: each response is built in full and written with one `sendall` on a socket with
`TCP_NODELAY`: otherwise Nagle's algorithm and the client's delayed ACK can stall a response on a
kept-alive connection by ~40 ms, more than the servers' own work being measured. A call's time
runs from the request's arrival at the socket to the answer's write (`Stats`): what this process
does in between, waking up included, is the model's, as a real model server's would be. While it waits
out the delay it watches the socket, so a call the client abandons (closes the connection) is
counted as cancelled, not completed. Standard library only.

Standalone: `python3 scripted_model.py --delay-ms 150` prints its URL and serves until killed;
the benchmark runs it so (`bench_perf.ModelProcess`), in a process of its own, so that its
threads never wait for the client's interpreter lock, or the client for theirs: that wait was
counted as the language server's time.
"""

from __future__ import annotations

import argparse
import io
import json
import select
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# The benchmark's own endpoints, for a model run in a process of its own (`--delay-ms` etc. are
# set with `POST /_bench/set`, the calls read with `GET /_bench/calls`, cleared with
# `POST /_bench/reset`); no language server asks for them.
CONTROL = "/_bench"

FIM_PREFIX = "<|fim_prefix|>"
FIM_SUFFIX = "<|fim_suffix|>"
FIM_MIDDLE = "<|fim_middle|>"


def prefix_of(body: dict) -> str | None:
    """The document text before the cursor in a request body of any of the formats: Tabby's
    `segments.prefix`, or the part of an OpenAI `prompt` between the Qwen FIM markers (after the
    last file separator when the prompt carries other files first), or the prompt itself."""
    segments = body.get("segments")
    if isinstance(segments, dict):
        p = segments.get("prefix")
        return p if isinstance(p, str) else None
    prompt = body.get("prompt")
    if isinstance(prompt, list):
        prompt = prompt[0] if prompt and isinstance(prompt[0], str) else None
    if not isinstance(prompt, str):
        return None
    if FIM_PREFIX in prompt:
        prompt = prompt.rsplit(FIM_PREFIX, 1)[1]
        prompt = prompt.split(FIM_SUFFIX, 1)[0]
    return prompt


def continuation(target: str, prefix: str, fixed: str) -> str:
    """The rest of `target`'s line after the end of `prefix` (the next line, newline first, when
    the cursor is at the end of a line), when the last 120 characters of `prefix` occur in
    `target`; else `fixed`."""
    tail = prefix[-120:]
    if not tail:
        return fixed
    at = target.rfind(tail)
    if at < 0:
        return fixed
    rest = target[at + len(tail):]
    line, nl, after = rest.partition("\n")
    if line.strip():
        return line
    if nl:
        nxt = after.split("\n", 1)[0]
        if nxt.strip():
            return "\n" + nxt
    return fixed


# Linux's `SO_TIMESTAMPNS` (socket(7)): each read returns the time the kernel received the bytes as
# an `SCM_TIMESTAMPNS` control message (a `struct timespec`, CLOCK_REALTIME).
SO_TIMESTAMPNS = 35
SCM_TIMESTAMPNS = SO_TIMESTAMPNS


class StampedReader(io.RawIOBase):
    """A connection's reads, each noting when the kernel received the bytes it returned
    (`arrived`, in `time.monotonic()` seconds; `None` when the kernel gave no time): the model's
    time starts when the request reaches its socket, not when this process gets to run. On a
    loaded machine the wake-up of a Python thread blocked in `recv` takes 0.05-0.5 ms, the model's
    own latency, which a real model server has too."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self._sock = sock
        self.arrived: float | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        n, ancdata, _, _ = self._sock.recvmsg_into([buf], socket.CMSG_SPACE(16))
        for level, kind, data in ancdata:
            if level == socket.SOL_SOCKET and kind == SCM_TIMESTAMPNS and len(data) >= 16:
                sec, nsec = struct.unpack("qq", data[:16])
                # The kernel's clock is the wall clock; the records use the monotonic one.
                self.arrived = time.monotonic() - (time.time_ns() - (sec * 10**9 + nsec)) / 1e9
        return n


class Stats:
    """What the model saw, under a lock: one record per completion call, in `time.monotonic()`
    seconds: `start` when the request reached the model's socket (the kernel's time), `woke` when
    this process got to read it, `end` when the answer was ready, just before its write (or when
    the client closed the connection); `done` when the whole answer was written to an open
    connection; `kind`, `prefix_len`. The model's time is `end - start`."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: list[dict] = []
        self.other: dict[str, int] = {}

    def snapshot(self) -> list[dict]:
        with self.lock:
            return [dict(c) for c in self.calls]

    def reset(self) -> None:
        with self.lock:
            self.calls.clear()
            self.other.clear()


class ScriptedModel:
    """The server. `delay_ms`, `target` and `fixed` may be changed between runs (attributes)."""

    def __init__(self, delay_ms: float = 0.0, target: str = "", fixed: str = "value = 1",
                 port: int = 0) -> None:
        self.delay_ms = delay_ms
        self.target = target
        self.fixed = fixed
        self.stats = Stats()
        model = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                super().setup()
                self.stamped = StampedReader(self.request)
                self.rfile = io.BufferedReader(self.stamped)

            def log_message(self, *args) -> None:  # quiet
                pass

            def handle_one_request(self) -> None:
                # The model's time starts when the request's first bytes reach its socket (the
                # kernel's time, see StampedReader), not after this Python server has woken up
                # and parsed its headers and JSON body: that is the model's cost, not the
                # language server's. `woke` (this process's time) is kept for comparison.
                self.stamped.arrived = None
                try:
                    self.rfile.peek(1)
                except OSError:
                    pass
                self.woke = time.monotonic()
                self.arrived = self.stamped.arrived or self.woke
                super().handle_one_request()

            def _send(self, status: int, ctype: str, payload: bytes, rec: dict | None = None) -> bool:
                """Writes one response. A completion call's `end` is taken just before the write:
                taken after it, it also counted this thread's wait for a core once the write had
                woken the client (0.1-0.3 ms on two busy cores), the client's time."""
                head = (f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\n"
                        f"Content-Type: {ctype}\r\nContent-Length: {len(payload)}\r\n"
                        f"Connection: keep-alive\r\n\r\n").encode()
                if rec is not None:
                    with model.stats.lock:
                        rec["end"] = time.monotonic()
                try:
                    self.request.sendall(head + payload)
                    return True
                except OSError:
                    self.close_connection = True
                    return False

            def _json(self, obj, status: int = 200) -> bool:
                return self._send(status, "application/json", json.dumps(obj).encode())

            def _count(self, what: str) -> None:
                with model.stats.lock:
                    model.stats.other[what] = model.stats.other.get(what, 0) + 1

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == CONTROL + "/calls":
                    self._json(model.stats.snapshot())
                elif path in ("/v1/models", "/models"):
                    self._json({"object": "list", "data": [{"id": "qwen2.5-coder", "object": "model"}]})
                elif path == "/v1/health":
                    self._json(health())
                elif path == "/v1beta/server_setting":
                    self._json({"disable_client_side_telemetry": True})
                else:
                    self._count("GET " + path)
                    self._json({"error": "not found"}, 404)

            def do_POST(self) -> None:
                path = self.path.split("?", 1)[0]
                try:
                    n = int(self.headers.get("Content-Length") or 0)
                except ValueError:
                    n = 0
                raw = self.rfile.read(n) if n > 0 else b""
                if path.startswith(CONTROL + "/"):
                    self._control(path, raw)
                    return
                if path == "/v1/health":
                    self._json(health())
                    return
                if path == "/v1/events":
                    self._send(200, "text/plain", b"")
                    return
                if path not in ("/v1/completions", "/completions"):
                    self._count("POST " + path)
                    self._json({"error": "not found"}, 404)
                    return
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    self._json({"error": "bad json"}, 400)
                    return
                self._complete(body)

            def _control(self, path: str, raw: bytes) -> None:
                if path == CONTROL + "/reset":
                    model.stats.reset()
                elif path == CONTROL + "/set":
                    for key, value in json.loads(raw or b"{}").items():
                        if key in ("delay_ms", "target", "fixed"):
                            setattr(model, key, value)
                else:
                    self._json({"error": "not found"}, 404)
                    return
                self._json({})

            def _complete(self, body: dict) -> None:
                start = self.arrived
                tabby = "segments" in body
                stream = bool(body.get("stream")) and not tabby
                kind = "tabby" if tabby else ("openai-sse" if stream else "openai-json")
                prefix = prefix_of(body) or ""
                text = continuation(model.target, prefix, model.fixed) if model.target else model.fixed
                rec = {"start": start, "woke": self.woke, "end": None, "done": False,
                       "kind": kind, "prefix_len": len(prefix)}
                with model.stats.lock:
                    model.stats.calls.append(rec)
                # Wait out the delay watching the socket: the client closing it cancels the call.
                deadline = start + model.delay_ms / 1000.0
                while True:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    r, _, _ = select.select([self.request], [], [], left)
                    if r:
                        try:
                            peek = self.request.recv(1, socket.MSG_PEEK)
                        except OSError:
                            peek = b""
                        if not peek:
                            self.close_connection = True
                            with model.stats.lock:
                                rec["end"] = time.monotonic()
                            return
                        break  # pipelined data: answer now
                if tabby:
                    payload = json.dumps({"id": "cmpl-bench", "choices": [{"index": 0, "text": text}]})
                    ok = self._send(200, "application/json", payload.encode(), rec)
                elif stream:
                    chunk = {"id": "cmpl-bench", "object": "text_completion", "model": "qwen2.5-coder",
                             "choices": [{"index": 0, "text": text, "finish_reason": None}]}
                    last = {"id": "cmpl-bench", "object": "text_completion", "model": "qwen2.5-coder",
                            "choices": [{"index": 0, "text": "", "finish_reason": "stop"}]}
                    payload = (f"data: {json.dumps(chunk)}\n\ndata: {json.dumps(last)}\n\n"
                               "data: [DONE]\n\n").encode()
                    ok = self._send(200, "text/event-stream", payload, rec)
                else:
                    payload = json.dumps({
                        "id": "cmpl-bench", "object": "text_completion", "model": "qwen2.5-coder",
                        "choices": [{"index": 0, "text": text, "finish_reason": "stop", "logprobs": None}],
                        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})
                    ok = self._send(200, "application/json", payload.encode(), rec)
                with model.stats.lock:
                    rec["done"] = ok

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.httpd = Server(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> "ScriptedModel":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def health() -> dict:
    """Tabby's `/v1/health` shape: tabby-agent treats the server as connected when `model` and
    `device` are present."""
    return {"model": "qwen2.5-coder", "device": "cpu", "arch": "x86_64", "cpu_info": "bench",
            "cpu_count": 2, "cuda_devices": [],
            "version": {"build_date": "", "build_timestamp": "", "git_sha": "", "git_describe": "bench"}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--delay-ms", type=float, default=150.0)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--fixed", default="value = 1")
    args = ap.parse_args()
    m = ScriptedModel(args.delay_ms, fixed=args.fixed, port=args.port).start()
    print(m.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        m.stop()


if __name__ == "__main__":
    main()
