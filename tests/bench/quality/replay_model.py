#!/usr/bin/env python3
"""A replaying model for the quality benchmark: answers `POST /v1/completions` (OpenAI wire
format, streamed or not) with the raw answer an earlier run recorded for the same prompt, so
post-processing variants are compared on identical model output in minutes instead of an hour.

A prompt it has no answer for goes to --upstream (the real llama-server) when given, and the
answer is kept for the rest of the run; without --upstream it is answered 404 and the benchmark
stops with that error. A live run starts it with no recorded answers in front of llama-server,
so that the raw baseline (asked second, unstreamed) gets the very text Baton got (streamed).
Listens on 127.0.0.1 only.

    replay_model.py --port 8094 --results RESULTS.jsonl [--results ...] [--upstream URL]

Prints its base URL on stdout once it listens.
"""

import argparse
import gzip
import hashlib
import json
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODEL_ALIAS = "qwen2.5-coder-0.5b"


def key_of(prompt: str) -> str:
    # The key bench_quality.py records as `prompt_sha`.
    return hashlib.sha256(prompt.encode()).hexdigest()[:16]


class State:
    def __init__(self, answers: dict, upstream: str | None):
        self.answers = answers
        self.upstream = upstream
        self.lock = threading.Lock()
        self.hits = 0
        self.misses = 0


def make_handler(state: State):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_):
            pass

        def _json(self, code: int, obj: dict) -> None:
            data = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path.rstrip("/") == "/v1/models":
                self._json(200, {"data": [{"id": MODEL_ALIAS}]})
            else:
                self._json(404, {"error": {"message": "not found"}})

        def do_POST(self):
            if self.path.rstrip("/") != "/v1/completions":
                self._json(404, {"error": {"message": f"replay serves /v1/completions, not {self.path}"}})
                return
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length))
            except ValueError:
                self._json(400, {"error": {"message": "bad JSON"}})
                return
            k = key_of(body.get("prompt", ""))
            with state.lock:
                text = state.answers.get(k)
            if text is None and state.upstream:
                up = dict(body, stream=False)
                req = urllib.request.Request(state.upstream.rstrip("/") + "/v1/completions",
                                             data=json.dumps(up).encode(),
                                             headers={"Content-Type": "application/json"})
                try:
                    with urllib.request.urlopen(req, timeout=600) as resp:
                        text = json.load(resp)["choices"][0].get("text", "")
                except (OSError, ValueError, KeyError, IndexError) as e:
                    self._json(502, {"error": {"message": f"the upstream model failed: {e}"}})
                    return
                with state.lock:
                    state.answers[k] = text
                    state.misses += 1
            elif text is not None:
                with state.lock:
                    state.hits += 1
            if text is None:
                self._json(404, {"error": {"message": f"no recorded answer for prompt {k}"}})
                return
            if not body.get("stream"):
                self._json(200, {"choices": [{"text": text, "finish_reason": "length", "index": 0}],
                                 "usage": {"completion_tokens": None}})
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            # One event per line, as a model streams tokens; the client may stop reading early.
            try:
                for piece in text.splitlines(keepends=True) or [""]:
                    event = {"choices": [{"text": piece, "index": 0, "finish_reason": None}]}
                    self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass
            self.close_connection = True

    return Handler


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=8094)
    ap.add_argument("--results", action="append", default=[], help="results.jsonl (or .jsonl.gz) of an earlier run")
    ap.add_argument("--upstream", help="the real model server for prompts not recorded")
    args = ap.parse_args()
    answers = {}
    for path in args.results:
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as f:
            for line in f:
                r = json.loads(line)
                if r.get("prompt_sha") and "raw" in r:
                    answers.setdefault(r["prompt_sha"], r["raw"]["text"])
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(State(answers, args.upstream)))
    print(f"http://127.0.0.1:{server.server_port}", flush=True)
    print(f"[replay-model] {len(answers)} recorded answers", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
