"""Training run of the profile-guided release build (scripts/build-release.sh): types lines of
real code into an instrumented `baton` over stdio against the scripted model, so the compiler
learns which paths a user's typing takes.

Not the benchmark's workload: the files are the Python standard library's and this repository's
own Rust and TypeScript, none of bench_perf.py's generated module or class. For each file, some
of its lines are emptied (their indentation kept), the file is opened, and each emptied line is
typed back one character at a time, each keystroke a `didChange` and an inline completion
request answered before the next. Half the lines are typed with a model that guesses the rest of
the line (so suggestions are shown and typed through, from the cache), half with one whose
answer never fits (so each keystroke asks the model, and the parse check often needs its
baseline). A second server, with the editor's default debounce, gets the same keystrokes without
waiting for the answers, so requests are superseded and cancelled as while typing fast. One
file opened as plain text covers the path without a grammar; the other files stay open beside
the typed one, as an editor's tabs do (the cross-file context).

Standard library only. Exit status 1 when a request failed or no model call was made, so a
broken training run does not pass silently (scripts/test.sh runs it on the debug build, small).

    python3 tests/bench/perf/pgo_train.py --baton PATH [--lines N]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import sysconfig
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent.parent
sys.path.insert(0, str(HERE))
import bench_perf as bp  # noqa: E402

STDLIB = Path(sysconfig.get_paths()["stdlib"])
# (path, languageId, extension). A file that is not there is skipped.
CORPUS = [
    (STDLIB / "argparse.py", "python", "py"),
    (STDLIB / "textwrap.py", "python", "py"),
    (STDLIB / "json" / "decoder.py", "python", "py"),
    (REPO / "server" / "conductor" / "postprocess.rs", "rust", "rs"),
    (REPO / "server" / "text" / "mod.rs", "rust", "rs"),
    (REPO / "editors" / "vscode" / "src" / "extension.ts", "typescript", "ts"),
    (REPO / "editors" / "nvim" / "lua" / "baton" / "init.lua", "plaintext", "txt"),
]
# What the model that never guesses answers, by language.
WRONG = {"python": "result = compute(value, limit)", "rust": "let value = compute(&input)?;",
         "typescript": "const value = compute(input);", "plaintext": "value = compute(input)"}
LINES_PER_FILE = 25


def pick_lines(lines: list[str], count: int) -> list[int]:
    """Up to `count` lines of code spread evenly over `lines` (more than 8 characters, not a
    comment), in order."""
    code = [i for i, line in enumerate(lines)
            if len(line.strip()) > 8 and not line.strip().startswith(("#", "//", "*", "/*", "--"))]
    step = max(1, len(code) // max(1, count))
    return code[::step][:count]


def emptied(lines: list[str], picked: list[int]) -> list[str]:
    """`lines` with each picked line cut to its indentation."""
    out = list(lines)
    for i in picked:
        out[i] = out[i][: len(out[i]) - len(out[i].lstrip())]
    return out


def type_file(kind: bp.ServerKind, lsp: bp.Lsp, model: bp.ModelProcess, path: Path, lang: str,
              uri: str, count: int, wait_each: bool) -> dict:
    """Types the picked lines of `path` back into it (opened at `uri`); counts the keystrokes,
    the answers with a suggestion and the errors."""
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    picked = pick_lines(lines, count)
    doc = emptied(lines, picked)
    lsp.notify("textDocument/didOpen", {"textDocument": {
        "uri": uri, "languageId": lang, "version": 0, "text": "\n".join(doc)}})
    version, keys, shown, errors = 0, 0, 0, 0
    for k, i in enumerate(picked):
        model.target = text if k % 2 == 0 else ""
        model.fixed = WRONG[lang]
        ch = len(doc[i])
        pending: list[int] = []
        for c in lines[i].lstrip():
            version += 1
            lsp.notify("textDocument/didChange", bp.change(uri, version, i, ch, c))
            ch = bp.apply_insert(doc, i, ch, c)[1]
            if pending and not wait_each:
                # The newer keystroke supersedes the request still open, as VS Code cancels it.
                lsp.notify("$/cancelRequest", {"id": pending[-1]})
            rid, _ = lsp.send_request(kind.method, kind.params(uri, i, ch))
            keys += 1
            if wait_each:
                msg, _ = lsp.wait(rid, 30)
                shown += bool(bp.suggestion_text(msg.get("result")))
                errors += "error" in msg
            else:
                pending.append(rid)
        for rid in pending:
            msg, _ = lsp.wait(rid, 30)
            err = msg.get("error")
            errors += err is not None and err.get("code") != bp.REQUEST_CANCELLED
            shown += bool(bp.suggestion_text(msg.get("result")))
    return {"keystrokes": keys, "shown": shown, "errors": errors}


def session(binary: str, mode: str, count: int, wait_each: bool) -> dict:
    """One server (`mode`: bench_perf's `overhead` settings, no debounce, or `trace`, the
    editor's default debounce) typing into every file of the corpus."""
    model = bp.ModelProcess()
    work = Path(tempfile.mkdtemp(prefix="pgo-train-"))
    kind = bp.Baton(binary, work)
    model.delay_ms = 0.0
    total = {"keystrokes": 0, "shown": 0, "errors": 0, "calls": 0}
    lsp = bp.start(kind, model, mode, f"pgo-train-{mode}")
    try:
        for n, (path, lang, ext) in enumerate(CORPUS):
            if not path.exists():
                continue
            uri = (work / "root" / f"file{n}.{ext}").as_uri()
            got = type_file(kind, lsp, model, path, lang, uri, count, wait_each)
            for key, value in got.items():
                total[key] += value
        total["calls"] = len(model.stats.snapshot())
    finally:
        lsp.close()
        model.stop()
        shutil.rmtree(work, ignore_errors=True)
    return total


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--baton", required=True, help="the (instrumented) baton binary")
    ap.add_argument("--lines", type=int, default=LINES_PER_FILE, help="lines typed per file")
    args = ap.parse_args()
    # Absolute: each server runs in a directory of its own.
    binary = str(Path(args.baton).resolve())
    failed = False
    for mode, wait_each in (("overhead", True), ("trace", False)):
        got = session(binary, mode, args.lines, wait_each)
        print(f"pgo-train {mode}: {got['keystrokes']} keystrokes, {got['calls']} model calls, "
              f"{got['shown']} suggestions, {got['errors']} errors", flush=True)
        failed |= got["errors"] > 0 or got["calls"] == 0 or got["keystrokes"] == 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
