#!/usr/bin/env python3
"""A tiny language server that answers `textDocument/copilotInlineEdit`, for testing the NES
harness (bench_nes.py) and for recording what real clients send (capture_nvim.sh).

Not a predictor: it exists so the harness's scoring, timing and "not supported" paths can be
checked without Baton. Modes (`--mode`):

- `canned`: every request is answered with one fixed edit (insert `// canned` at the start of
  line 0), tagged `structural`.
- `rename`: a text-only stand-in for the structural predictor: when the last change replaced
  identifier X by Y, the next occurrence of X after the cursor (wrapping around) is replaced by
  Y, tagged `structural`; otherwise nothing. Enough to make some benchmark cases score.
- `unsupported`: the method is unknown, answered MethodNotFound (-32601), as a server without NES.
- `slow`: as `canned`, after `--delay-ms`.

The edits carry the shape PROTOCOL.md describes (text, range, textDocument, command) with the
proposed source tag in `command.arguments[0]` (`<source>:<n>`).

`--record FILE` appends every message the client sends as one JSON line (for fixtures).
Documents are kept with full or incremental sync (UTF-16 positions). Standard library only.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time

IN = sys.stdin.buffer
OUT = sys.stdout.buffer
LINE_BREAK = re.compile(r"\r\n|\r|\n")
IDENT = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
ENCODING = "utf-16"  # what `character` counts; set from --position-encoding


def units(ch: str) -> int:
    if ENCODING == "utf-8":
        return len(ch.encode("utf-8"))
    if ENCODING == "utf-32":
        return 1
    return 2 if ord(ch) > 0xFFFF else 1


def read_message():
    length = None
    while True:
        line = IN.readline()
        if not line:
            return None
        line = line.strip()
        if not line:
            if length is None:
                continue
            break
        name, _, value = line.decode("ascii", "replace").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    body = IN.read(length)
    if len(body) < length:
        return None
    return json.loads(body)


def send(msg: dict) -> None:
    data = json.dumps(msg, separators=(",", ":")).encode()
    OUT.write(b"Content-Length: %d\r\n\r\n" % len(data) + data)
    OUT.flush()


def starts_of(text: str) -> list[int]:
    return [0] + [m.end() for m in LINE_BREAK.finditer(text)]


def offset_of(text: str, pos: dict) -> int:
    starts = starts_of(text)
    line = pos["line"]
    if line >= len(starts):
        return len(text)
    i = starts[line]
    end = starts[line + 1] if line + 1 < len(starts) else len(text)
    n = 0
    while i < end and text[i] not in "\r\n" and n < pos["character"]:
        n += units(text[i])
        i += 1
    return i


def pos_of(text: str, off: int) -> dict:
    starts = starts_of(text)
    line = max(k for k, s in enumerate(starts) if s <= off)
    return {"line": line, "character": sum(units(c) for c in text[starts[line] : off])}


class Doc:
    def __init__(self, text: str, version: int):
        self.text = text
        self.version = version
        self.last_swap: tuple[str, str] | None = None

    def change(self, change: dict) -> None:
        if "range" not in change:
            self.text = change["text"]
            self.last_swap = None
            return
        s = offset_of(self.text, change["range"]["start"])
        e = offset_of(self.text, change["range"]["end"])
        old = self.text
        self.text = old[:s] + change["text"] + old[e:]
        # The identifier around the change, before and after: a swap X -> Y.
        a, b = s, e
        while a > 0 and re.match(r"[\w$]", old[a - 1]):
            a -= 1
        while b < len(old) and re.match(r"[\w$]", old[b]):
            b += 1
        x = old[a:b]
        y = old[a:s] + change["text"] + old[e:b]
        self.last_swap = (x, y) if x != y and IDENT.fullmatch(x) and IDENT.fullmatch(y) else None


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["canned", "rename", "unsupported", "slow"], default="canned")
    ap.add_argument("--delay-ms", type=int, default=200)
    ap.add_argument("--record", help="append every client message to this JSON-lines file")
    ap.add_argument("--position-encoding", help="announce this positionEncoding (default: none, i.e. utf-16)")
    args = ap.parse_args()
    global ENCODING
    ENCODING = args.position_encoding or "utf-16"
    record = open(args.record, "a", encoding="utf-8") if args.record else None
    docs: dict[str, Doc] = {}
    seq = 0
    shutdown = False
    while True:
        msg = read_message()
        if msg is None:
            return 0 if shutdown else 1
        if record:
            record.write(json.dumps(msg, sort_keys=True) + "\n")
            record.flush()
        method = msg.get("method")
        mid = msg.get("id")
        params = msg.get("params") or {}
        if method == "initialize":
            caps = {"textDocumentSync": {"openClose": True, "change": 2},
                    "executeCommandProvider": {"commands": ["baton.nes.accept"]}}
            if args.position_encoding:
                caps["positionEncoding"] = args.position_encoding
            send({"jsonrpc": "2.0", "id": mid, "result": {
                "capabilities": caps, "serverInfo": {"name": "nes-stub", "version": "1"}}})
        elif method == "shutdown":
            shutdown = True
            send({"jsonrpc": "2.0", "id": mid, "result": None})
        elif method == "exit":
            return 0 if shutdown else 1
        elif method == "textDocument/didOpen":
            td = params["textDocument"]
            docs[td["uri"]] = Doc(td["text"], td.get("version", 0))
        elif method == "textDocument/didChange":
            d = docs.get(params["textDocument"]["uri"])
            if d:
                for ch in params["contentChanges"]:
                    d.change(ch)
                d.version = params["textDocument"].get("version", d.version)
        elif method == "textDocument/didClose":
            docs.pop(params["textDocument"]["uri"], None)
        elif method == "textDocument/copilotInlineEdit":
            if args.mode == "unsupported":
                send({"jsonrpc": "2.0", "id": mid,
                      "error": {"code": -32601, "message": "Unhandled method textDocument/copilotInlineEdit"}})
                continue
            if args.mode == "slow":
                time.sleep(args.delay_ms / 1000)
            td = params["textDocument"]
            d = docs.get(td["uri"])
            edits = []
            if d is not None and td.get("version") == d.version:
                seq += 1
                edit = None
                if args.mode in ("canned", "slow"):
                    edit = ({"line": 0, "character": 0}, {"line": 0, "character": 0}, "// canned\n")
                elif d.last_swap:
                    x, y = d.last_swap
                    cur = offset_of(d.text, params["position"])
                    pat = re.compile(r"(?<![\w$])" + re.escape(x) + r"(?![\w$])")
                    m = pat.search(d.text, cur) or pat.search(d.text, 0)
                    if m:
                        edit = (pos_of(d.text, m.start()), pos_of(d.text, m.end()), y)
                if edit:
                    edits.append({
                        "text": edit[2],
                        "range": {"start": edit[0], "end": edit[1]},
                        "textDocument": {"uri": td["uri"], "version": d.version},
                        "command": {"title": "Accept next edit", "command": "baton.nes.accept",
                                    "arguments": [f"structural:{seq}"]},
                    })
            send({"jsonrpc": "2.0", "id": mid, "result": {"edits": edits}})
        elif method == "workspace/executeCommand" and mid is not None:
            send({"jsonrpc": "2.0", "id": mid, "result": None})
        elif mid is not None and method is not None:
            send({"jsonrpc": "2.0", "id": mid, "error": {"code": -32601, "message": f"Unhandled method {method}"}})


if __name__ == "__main__":
    sys.exit(main())
