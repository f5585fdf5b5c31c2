#!/usr/bin/env python3
"""Builds the next-edit-suggestion benchmark dataset (issue 14, item 5).

Every case is a pair of edits to one file: edit A (the one the user just made) and edit B (the one
the author made next). The harness (bench_nes.py) opens `document`, replays `history` and then A as
`textDocument/didChange`, asks for the next edit at `cursor` and compares the answer with
`expected` (B).

Two sources, both pinned so that the same command always writes the same bytes:

- `git`: the commits of a real repository (by default this project's own history up to a pinned
  commit). Each commit's change to a file is split into its edits: the line regions a line diff
  finds (difflib, no heuristics that depend on timing), changed lines of an equal-length region
  taken one by one, and an identifier swapped several times on one line split into one edit per
  occurrence; each edit is then narrowed to the characters that changed. The author's order of the
  edits inside one commit is unknown: file order stands in for it, except that a call site is
  paired with the signature change it follows wherever it is.
- `scripted` (`--pypi-sdist`): a real package's source from PyPI (a pinned sdist, checked against
  its sha256) with edits made by a script from Python's own `ast`: a parameter renamed (A: the
  `def`, B: its first use), a parameter added or removed (A: the `def`, B: the first call in the
  same file). These cover the structural categories that a small history has few of.

Categories: `rename` (A replaces identifier X by Y, B replaces the next X by Y), `signature`
(A changes a function's parameter list, B edits a call of that function), `param_added` and
`param_removed` (a signature change whose parameter count grows or shrinks by one), `general`
(two consecutive edits of one file that are none of the above).

Positions are LSP positions: zero-based line and UTF-16 code units, lines broken at `\\n`, `\\r\\n`
and `\\r`. Each edit is `{"range": {"start": P, "end": P}, "text": T}` in the coordinates of the
document as it is just before that edit.

Standard library only. Usage (the defaults are the pinned sources; the committed dataset is
tests/nes/dataset.jsonl):

    python3 tests/nes/build_dataset.py --out tests/nes/dataset.jsonl
    python3 tests/nes/build_dataset.py --pypi-sdist PATH_TO_SDIST --out ...   # adds scripted cases
"""

from __future__ import annotations

import argparse
import ast
import difflib
import hashlib
import io
import json
import re
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent

# The pinned sources. `PINNED_REV` is a commit of this repository: its history (first parent and
# merged branches alike, merges themselves skipped) is the `git` source.
PINNED_REV = "c2250b8fdc6061054598d3bc1169a8c20fe799d7"
# The `scripted` source: an sdist from PyPI, by name, version and sha256. Fetch it with
#   pip download --no-deps --no-binary :all: --dest DIR "requests==2.32.3"
PINNED_SDIST = {
    "name": "requests",
    "version": "2.32.3",
    "filename": "requests-2.32.3.tar.gz",
    "sha256": "55365417734eb18255590a9ff9eb97e9e1da868d4ccd6402399eaf68af20a760",
}

# Languages Baton has grammars for (grammars/languages.toml): extension -> LSP language id.
LANGUAGES = {
    "rs": "rust",
    "py": "python",
    "pyi": "python",
    "go": "go",
    "js": "javascript",
    "mjs": "javascript",
    "cjs": "javascript",
    "jsx": "javascriptreact",
    "ts": "typescript",
    "mts": "typescript",
    "cts": "typescript",
    "tsx": "typescriptreact",
}

# Limits that keep cases realistic and the dataset small.
MAX_DOC_LINES = 450  # a document longer than this is skipped
MAX_EDIT_LINES = 12  # an edit (A or B) spanning more lines (old or new) is skipped
MAX_EDIT_CHARS = 600
MAX_GENERAL_DISTANCE = 80  # lines between A and B for a `general` pair
HISTORY = 3  # edits replayed before A; older ones are folded into the document
PER_FILE_CAP = {"rename": 3, "signature": 3, "param_added": 3, "param_removed": 3, "general": 2}
# Cases kept per (source kind, category).
DEFAULT_CAPS = {
    "git": {"rename": 40, "signature": 40, "param_added": 40, "param_removed": 40, "general": 100},
    "scripted": {"rename": 45, "signature": 0, "param_added": 35, "param_removed": 35, "general": 0},
    "pypi": {"rename": 40, "signature": 0, "param_added": 20, "param_removed": 20, "general": 0},
}

IDENT = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
TOKEN = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*|\s+|.", re.S)
KEYWORDS = set(
    """
    as async await break case catch class const continue crate def default defer del do dyn elif
    else enum except export extends false finally fn for from func function go if impl import in
    interface is lambda let loop match mod move mut new nil None not or pass pub raise ref return
    select self Self static struct super switch this throw true True False try type typeof unsafe
    use var void where while with yield and
    """.split()
)

DEF_PATTERNS = {
    "rust": [re.compile(r"\bfn\s+([A-Za-z_]\w*)\s*(?:<[^()]*>)?\s*\(")],
    "python": [re.compile(r"\bdef\s+([A-Za-z_]\w*)\s*\(")],
    "go": [re.compile(r"\bfunc\s+(?:\([^)]*\)\s*)?([A-Za-z_]\w*)\s*(?:\[[^\]]*\])?\s*\(")],
    "js": [
        re.compile(r"\bfunction\s*\*?\s*([A-Za-z_$][\w$]*)\s*(?:<[^()]*>)?\s*\("),
        re.compile(r"\b(?:const|let|var)\s+([A-Za-z_$][\w$]*)\s*(?::[^=]*)?=\s*(?:async\s*)?\("),
        re.compile(
            r"^\s*(?:(?:public|private|protected|static|async|readonly|override)\s+)*"
            r"(?!if\b|for\b|while\b|switch\b|catch\b|return\b)([A-Za-z_$][\w$]*)\s*(?:<[^()]*>)?\s*\((?=[^;]*\{?\s*$)"
        ),
    ],
}


def family(language: str) -> str:
    return {"javascriptreact": "js", "typescript": "js", "typescriptreact": "js", "javascript": "js"}.get(
        language, language
    )


# ------------------------------------------------------------------------------------------------
# Text and positions
# ------------------------------------------------------------------------------------------------

LINE_BREAK = re.compile(r"\r\n|\r|\n")


def line_starts(text: str) -> list[int]:
    """Char offsets at which each LSP line starts."""
    starts = [0]
    for m in LINE_BREAK.finditer(text):
        starts.append(m.end())
    return starts


def utf16_len(s: str) -> int:
    return len(s.encode("utf-16-le")) // 2


def to_pos(text: str, starts: list[int], offset: int) -> dict:
    """Char offset -> LSP position (UTF-16)."""
    lo, hi = 0, len(starts) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if starts[mid] <= offset:
            lo = mid
        else:
            hi = mid - 1
    return {"line": lo, "character": utf16_len(text[starts[lo] : offset])}


def _line_index(starts: list[int], offset: int) -> int:
    lo, hi = 0, len(starts) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if starts[mid] <= offset:
            lo = mid
        else:
            hi = mid - 1
    return lo


@dataclass(frozen=True)
class Edit:
    """A replacement of old[start:end] by `text`, in char offsets of the *original* document."""

    start: int
    end: int
    text: str

    def delta(self) -> int:
        return len(self.text) - (self.end - self.start)


def minimal(old: str, start: int, end: int, text: str) -> Edit | None:
    """Narrows a replacement to the characters that differ; None when nothing differs."""
    seg = old[start:end]
    if seg == text:
        return None
    p = 0
    while p < len(seg) and p < len(text) and seg[p] == text[p]:
        p += 1
    s = 0
    while s < len(seg) - p and s < len(text) - p and seg[len(seg) - 1 - s] == text[len(text) - 1 - s]:
        s += 1
    return Edit(start + p, end - s, text[p : len(text) - s])


def split_line(old: str, start: int, old_line: str, new_line: str) -> list[Edit]:
    """One changed line as edits: one per identifier occurrence when the only change is the same
    identifier swapped (X -> Y) one or more times, else the whole line narrowed."""
    a = TOKEN.findall(old_line)
    b = TOKEN.findall(new_line)
    sm = difflib.SequenceMatcher(None, a, b, autojunk=False)
    ops = [op for op in sm.get_opcodes() if op[0] != "equal"]
    swaps = set()
    ok = bool(ops)
    for tag, i1, i2, j1, j2 in ops:
        if tag != "replace" or i2 - i1 != 1 or j2 - j1 != 1:
            ok = False
            break
        x, y = a[i1], b[j1]
        if not (IDENT.fullmatch(x) and IDENT.fullmatch(y)):
            ok = False
            break
        swaps.add((x, y))
    if ok and len(swaps) == 1 and len(ops) > 1:
        out = []
        offsets = [0]
        for t in a:
            offsets.append(offsets[-1] + len(t))
        for _, i1, _, j1, _ in ops:
            out.append(Edit(start + offsets[i1], start + offsets[i1 + 1], b[j1]))
        return out
    e = minimal(old, start, start + len(old_line), new_line)
    return [e] if e else []


def diff_edits(old: str, new: str) -> list[Edit]:
    """The edits that turn `old` into `new`, non-overlapping, in file order."""
    ol = old.splitlines(keepends=True)
    nl = new.splitlines(keepends=True)
    offs = [0]
    for line in ol:
        offs.append(offs[-1] + len(line))
    sm = difflib.SequenceMatcher(None, ol, nl, autojunk=False)
    edits: list[Edit] = []
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "equal":
            continue
        if tag == "replace" and i2 - i1 == j2 - j1:
            for k in range(i2 - i1):
                edits.extend(split_line(old, offs[i1 + k], ol[i1 + k], nl[j1 + k]))
            continue
        e = minimal(old, offs[i1], offs[i2], "".join(nl[j1:j2]))
        if e:
            edits.append(e)
    return edits


def apply(text: str, start: int, end: int, new: str) -> str:
    return text[:start] + new + text[end:]


def apply_lsp(text: str, edit: dict) -> str:
    """Applies an LSP-shaped edit (UTF-16 positions) to `text`."""
    starts = line_starts(text)
    return apply(text, offset_of(text, starts, edit["range"]["start"]), offset_of(text, starts, edit["range"]["end"]),
                 edit["text"])


def offset_of(text: str, starts: list[int], pos: dict) -> int:
    """LSP position -> char offset, clamped to the line (as LSP asks of a too-long character)."""
    line = pos["line"]
    if line >= len(starts):
        return len(text)
    begin = starts[line]
    end = starts[line + 1] if line + 1 < len(starts) else len(text)
    m = LINE_BREAK.search(text, begin, end)
    stop = m.start() if m and m.end() == end else end
    units = 0
    i = begin
    while i < stop and units < pos["character"]:
        units += 2 if ord(text[i]) > 0xFFFF else 1
        i += 1
    return i


# ------------------------------------------------------------------------------------------------
# Classification
# ------------------------------------------------------------------------------------------------

def ident_swap(old: str, e: Edit) -> tuple[str, str] | None:
    """(X, Y) when the edit replaces exactly one identifier X by one identifier Y."""
    s, t = e.start, e.end
    while s > 0 and re.match(r"[\w$]", old[s - 1]):
        s -= 1
    while t < len(old) and re.match(r"[\w$]", old[t]):
        t += 1
    x = old[s:t]
    y = old[s : e.start] + e.text + old[e.end : t]
    if x != y and IDENT.fullmatch(x) and IDENT.fullmatch(y) and x not in KEYWORDS and y not in KEYWORDS:
        return x, y
    return None


def matching_paren(text: str, open_at: int) -> int | None:
    """Offset of the ')' closing the '(' at `open_at`; None when unbalanced within 4000 chars."""
    depth = 0
    i = open_at
    stop = min(len(text), open_at + 4000)
    quote = None
    while i < stop:
        c = text[i]
        if quote:
            if c == "\\":
                i += 2
                continue
            if c == quote:
                quote = None
        elif c in "\"'`":
            # A Rust lifetime ('a) is not a quote: only treat ' as one when it closes on this line.
            if c == "'" and not re.match(r"'(?:[^'\\\n]|\\.)+'", text[i : i + 8]):
                i += 1
                continue
            quote = c
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return None


def signature_at(text: str, language: str, offset: int) -> tuple[str, int, int] | None:
    """(name, params_start, params_end) of the function definition whose name or parameter list
    contains `offset`, looking at most 8 lines up."""
    starts = line_starts(text)
    line = _line_index(starts, offset)
    for ln in range(line, max(-1, line - 9), -1):
        begin = starts[ln]
        end = starts[ln + 1] if ln + 1 < len(starts) else len(text)
        chunk = text[begin:end]
        for pat in DEF_PATTERNS.get(family(language), []):
            for m in pat.finditer(chunk):
                open_at = begin + m.end() - 1
                close = matching_paren(text, open_at)
                if close is None:
                    continue
                if begin + m.start(1) <= offset <= close:
                    return m.group(1), open_at + 1, close
    return None


def arity(params: str) -> int:
    depth = 0
    parts = [""]
    i = 0
    while i < len(params):
        c = params[i]
        if params.startswith("->", i) or params.startswith("=>", i):
            parts[-1] += params[i : i + 2]
            i += 2
            continue
        if c in "([{<":
            depth += 1
        elif c in ")]}>":
            depth -= 1
        if c == "," and depth == 0:
            parts.append("")
        else:
            parts[-1] += c
        i += 1
    return sum(1 for p in parts if p.strip())


def call_of(text: str, language: str, name: str, e: Edit) -> bool:
    """Whether the edit lies inside the argument list of a call of `name` (not its definition)."""
    starts = line_starts(text)
    line = _line_index(starts, e.start)
    begin = starts[max(0, line - 3)]
    pat = re.compile(r"(?<![\w$])" + re.escape(name) + r"\s*(?:::<[^()]*>)?\s*\(")
    for m in pat.finditer(text, begin, min(len(text), e.end + 200)):
        open_at = m.end() - 1
        close = matching_paren(text, open_at)
        if close is None or not (open_at < e.start and e.end <= close + 1):
            continue
        head = text[starts[_line_index(starts, m.start())] : m.start()]
        if re.search(r"\b(fn|def|func|function)\s*$", head):
            continue
        return True
    return False


def classify_signature(old: str, new_doc: str, language: str, e: Edit) -> tuple[str, str] | None:
    """(category, function name) when `e` edits a function's parameter list."""
    sig = signature_at(old, language, e.start)
    if not sig:
        return None
    name, ps, pe = sig
    if not (ps <= e.start and e.end <= pe):
        return None
    after = apply(old, e.start, e.end, e.text)
    new_pe = pe + e.delta()
    old_params = old[ps:pe]
    new_params = after[ps:new_pe]
    if old_params == new_params:
        return None
    diff = arity(new_params) - arity(old_params)
    cat = {1: "param_added", -1: "param_removed"}.get(diff, "signature")
    return cat, name


# ------------------------------------------------------------------------------------------------
# Cases
# ------------------------------------------------------------------------------------------------

def too_big(old: str, e: Edit) -> bool:
    return (
        old.count("\n", e.start, e.end) >= MAX_EDIT_LINES
        or e.text.count("\n") >= MAX_EDIT_LINES
        or e.end - e.start > MAX_EDIT_CHARS
        or len(e.text) > MAX_EDIT_CHARS
    )


def blank(old: str, e: Edit) -> bool:
    """Whitespace only: a blank edit, or a reflow (the same text once whitespace is removed)."""
    return re.sub(r"\s", "", old[e.start : e.end]) == re.sub(r"\s", "", e.text)


def make_case(old: str, edits: list[Edit], i: int, j: int, meta: dict) -> dict:
    """The case for A = edits[i], B = edits[j]: the edits before A in file order (B excepted)
    happened first; the last HISTORY of them are replayed, the others folded into the document."""
    before = [k for k in range(i) if k != j]
    folded, replayed = before[: max(0, len(before) - HISTORY)], before[max(0, len(before) - HISTORY) :]
    applied: list[Edit] = []

    def cur(off: int) -> int:
        return off + sum(x.delta() for x in applied if x.end <= off)

    doc = old
    for k in folded:
        e = edits[k]
        doc = apply(doc, cur(e.start), cur(e.end), e.text)
        applied.append(e)
    document = doc
    history = []
    for k in replayed:
        e = edits[k]
        st = line_starts(doc)
        s, t = cur(e.start), cur(e.end)
        history.append({"range": {"start": to_pos(doc, st, s), "end": to_pos(doc, st, t)}, "text": e.text})
        doc = apply(doc, s, t, e.text)
        applied.append(e)
    a = edits[i]
    st = line_starts(doc)
    s, t = cur(a.start), cur(a.end)
    edit_a = {"range": {"start": to_pos(doc, st, s), "end": to_pos(doc, st, t)}, "text": a.text}
    doc = apply(doc, s, t, a.text)
    applied.append(a)
    st = line_starts(doc)
    cursor = to_pos(doc, st, s + len(a.text))
    b = edits[j]
    bs, bt = cur(b.start), cur(b.end)
    expected = {"range": {"start": to_pos(doc, st, bs), "end": to_pos(doc, st, bt)}, "text": b.text}
    case = dict(meta)
    case.update(
        document=document,
        history=history,
        edit_a=edit_a,
        cursor=cursor,
        expected=expected,
        distance_lines=abs(expected["range"]["start"]["line"] - cursor["line"]),
    )
    return case


def pairs_for_file(old: str, new: str, language: str) -> list[tuple[str, int, int]]:
    """(category, i, j) pairs mined from one file's change."""
    edits = diff_edits(old, new)
    out: list[tuple[str, int, int]] = []
    usable = [not too_big(old, e) and not blank(old, e) for e in edits]
    used = set()
    # Renames: the next occurrence of the same swap.
    swaps = [ident_swap(old, e) if usable[k] else None for k, e in enumerate(edits)]
    for i, sw in enumerate(swaps):
        if not sw:
            continue
        for j in range(i + 1, len(edits)):
            if swaps[j] == sw:
                out.append(("rename", i, j))
                used.add((i, j))
                break
    # Signature changes: the nearest call site edited in the same change (after A preferred).
    for i, e in enumerate(edits):
        if not usable[i] or swaps[i]:
            continue
        sig = classify_signature(old, new, language, e)
        if not sig:
            continue
        cat, name = sig
        cands = [j for j in range(len(edits)) if j != i and usable[j] and call_of(old, language, name, edits[j])]
        if not cands:
            continue
        j = min(cands, key=lambda j: (j < i, abs(edits[j].start - e.start)))
        out.append((cat, i, j))
        used.add((i, j))
    # General: consecutive edits that are nothing above.
    starts = line_starts(old)
    for i in range(len(edits) - 1):
        j = i + 1
        if (i, j) in used or not (usable[i] and usable[j]):
            continue
        if _line_index(starts, edits[j].start) - _line_index(starts, edits[i].end) > MAX_GENERAL_DISTANCE:
            continue
        out.append(("general", i, j))
    return out


def stable(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def cap(cases: list[dict], limit: int, key: str) -> list[dict]:
    """At most `limit` cases, picked by a hash of their id (deterministic, spread over the source)."""
    if len(cases) <= limit:
        return cases
    keep = set(c["id"] for c in sorted(cases, key=lambda c: stable(key + c["id"]))[:limit])
    return [c for c in cases if c["id"] in keep]


def cases_for_change(old: str, new: str, language: str, meta: dict) -> list[dict]:
    if old.count("\n") > MAX_DOC_LINES or new.count("\n") > MAX_DOC_LINES:
        return []
    edits = diff_edits(old, new)
    out = []
    per: dict[str, list[dict]] = {}
    for cat, i, j in pairs_for_file(old, new, language):
        m = dict(meta)
        m["id"] = f"{meta['id']}#{i}-{j}"
        m["category"] = cat
        per.setdefault(cat, []).append(make_case(old, edits, i, j, m))
    for cat, cs in sorted(per.items()):
        out.extend(cap(cs, PER_FILE_CAP[cat], meta["id"]))
    return out


# ------------------------------------------------------------------------------------------------
# Source: git history
# ------------------------------------------------------------------------------------------------

def git(repo: Path, *args: str) -> bytes:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True).stdout


def git_cases(repo: Path, rev: str, name: str) -> list[dict]:
    out = []
    commits = git(repo, "rev-list", "--reverse", "--topo-order", "--no-merges", rev).decode().split()
    for c in commits:
        parents = git(repo, "rev-list", "--parents", "-n", "1", c).decode().split()[1:]
        if len(parents) != 1:
            continue
        listing = git(repo, "diff-tree", "-r", "--no-renames", "-z", "--diff-filter=M", parents[0], c).decode()
        fields = listing.split("\0")
        paths = [fields[k + 1] for k in range(0, len(fields) - 1, 2) if fields[k].startswith(":")]
        for path in sorted(paths):
            ext = path.rsplit(".", 1)[-1] if "." in path else ""
            if ext not in LANGUAGES:
                continue
            try:
                old = git(repo, "cat-file", "blob", f"{parents[0]}:{path}").decode("utf-8")
                new = git(repo, "cat-file", "blob", f"{c}:{path}").decode("utf-8")
            except (subprocess.CalledProcessError, UnicodeDecodeError):
                continue
            meta = {"id": f"git:{name}:{c[:12]}:{path}", "source": f"git:{name}", "commit": c, "path": path,
                    "language": LANGUAGES[ext]}
            out.extend(cases_for_change(old, new, LANGUAGES[ext], meta))
    return out


# ------------------------------------------------------------------------------------------------
# Source: a PyPI sdist with scripted edits
# ------------------------------------------------------------------------------------------------

def sdist_files(path: Path, expect_sha: str | None) -> list[tuple[str, str]]:
    data = path.read_bytes()
    got = hashlib.sha256(data).hexdigest()
    if expect_sha and got != expect_sha:
        raise SystemExit(f"{path}: sha256 {got}, expected {expect_sha} (not the pinned sdist)")
    out = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tf:
        for m in sorted(tf.getmembers(), key=lambda m: m.name):
            if not m.isfile() or not m.name.endswith(".py"):
                continue
            rel = m.name.split("/", 1)[-1]
            if not rel.startswith("src/") or "/tests/" in rel:
                continue
            f = tf.extractfile(m)
            if f is None:
                continue
            try:
                out.append((rel, f.read().decode("utf-8")))
            except UnicodeDecodeError:
                continue
    return out


def abs_offset(starts: list[int], lineno: int, col_utf8: int, text: str) -> int:
    """ast's (1-based line, UTF-8 byte column) -> char offset."""
    begin = starts[lineno - 1]
    line = text[begin:]
    return begin + len(line.encode("utf-8")[:col_utf8].decode("utf-8", "replace"))


@dataclass
class FnSite:
    """A function definition as the script needs it, in char offsets of its document."""

    name: str
    close: int  # the ')' that ends the parameter list
    n_params: int  # parameters, a receiver (self, &self) not counted
    params: list[tuple[str, int, int | None]]  # (name, offset of the name, offset of its first use)
    call: tuple[int, int] | None  # ('(' offset, n_args) of the first call outside the definition


NEW_PARAM = {"python": "verbose", "rust": "verbose: bool", "typescript": "verbose: boolean",
             "typescriptreact": "verbose: boolean", "javascript": "verbose", "javascriptreact": "verbose"}


def scripted_from_sites(text: str, language: str, sites: list[FnSite], meta_base: dict) -> list[dict]:
    """For each function: its first used parameter renamed (A: the definition, B: the first use);
    a parameter `verbose` added at the end (A) and passed at the first call (B, the argument being
    the parameter's name); and the reverse of that: from a document where both are present, the
    parameter removed (A) and then the argument (B)."""
    out = []
    for fn in sites:
        for pname, d0, u0 in fn.params:
            if u0 is None:
                continue
            new_name = pname + "_value"
            if re.search(r"(?<![\w$])" + re.escape(new_name) + r"(?![\w$])", text):
                continue
            edits = [Edit(d0, d0 + len(pname), new_name), Edit(u0, u0 + len(pname), new_name)]
            m = dict(meta_base, id=f"{meta_base['id']}:{fn.name}@{d0}:rename", category="rename")
            out.append(make_case(text, edits, 0, 1, m))
            break
        if fn.call is None or fn.call[1] != fn.n_params:
            continue
        if re.search(r"(?<![\w$])verbose(?![\w$])", text):
            continue
        c_open, n_args = fn.call
        c_close = matching_paren(text, c_open)
        if c_close is None or text[fn.close - 1] in ", \n\t" or text[c_close - 1] in ", \n\t":
            continue  # trailing commas and wrapped lists: keep the script exact
        has_list = text[fn.close - 1] != "("
        p_ins = (", " if has_list else "") + NEW_PARAM[language]
        a_ins = (", " if n_args else "") + "verbose"
        d_e, c_e = Edit(fn.close, fn.close, p_ins), Edit(c_close, c_close, a_ins)
        edits = sorted([d_e, c_e], key=lambda e: e.start)
        ia = edits.index(d_e)
        m = dict(meta_base, id=f"{meta_base['id']}:{fn.name}@{fn.close}:param_added", category="param_added")
        out.append(make_case(text, edits, ia, 1 - ia, m))
        # The reverse: both present, then removed.
        both = text
        for e in sorted(edits, key=lambda e: -e.start):
            both = apply(both, e.start, e.end, e.text)
        shift = lambda off: off + sum(e.delta() for e in edits if e.end <= off and e.start < off)  # noqa: E731
        rd = Edit(shift(d_e.start), shift(d_e.start) + len(p_ins), "")
        rc = Edit(shift(c_e.start), shift(c_e.start) + len(a_ins), "")
        redits = sorted([rd, rc], key=lambda e: e.start)
        ia = redits.index(rd)
        m = dict(meta_base, id=f"{meta_base['id']}:{fn.name}@{fn.close}:param_removed", category="param_removed")
        out.append(make_case(both, redits, ia, 1 - ia, m))
    return out


def python_sites(text: str) -> list[FnSite]:
    """Function definitions of a Python module, from its `ast`."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return []
    starts = line_starts(text)
    classes = {id(f): c for c in ast.walk(tree) if isinstance(c, ast.ClassDef) for f in c.body}
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    calls.sort(key=lambda n: (n.lineno, n.col_offset))
    sites = []
    funcs = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    for fn in sorted(funcs, key=lambda n: (n.lineno, n.col_offset)):
        a = fn.args
        method = id(fn) in classes and a.args and a.args[0].arg in ("self", "cls")
        plain = [x for x in (a.args[1:] if method else a.args)]
        params = []
        for x in plain:
            d0 = abs_offset(starts, x.lineno, x.col_offset, text)
            if text[d0 : d0 + len(x.arg)] != x.arg:
                continue
            uses = sorted((n for n in ast.walk(fn) if isinstance(n, ast.Name) and n.id == x.arg),
                          key=lambda n: (n.lineno, n.col_offset))
            u0 = abs_offset(starts, uses[0].lineno, uses[0].col_offset, text) if uses else None
            if u0 is not None and text[u0 : u0 + len(x.arg)] != x.arg:
                u0 = None
            params.append((x.arg, d0, u0))
        def_at = abs_offset(starts, fn.lineno, fn.col_offset, text)
        open_at = text.index("(", def_at + text[def_at:].index(fn.name))
        close = matching_paren(text, open_at)
        if close is None:
            continue
        call = None
        simple = not (a.vararg or a.kwarg or a.kwonlyargs or a.defaults or a.posonlyargs)
        for c in calls if simple else []:
            if fn.lineno <= c.lineno <= (fn.end_lineno or fn.lineno) or c.keywords:
                continue
            if any(isinstance(x, ast.Starred) for x in c.args):
                continue
            f = c.func
            if method:
                ok = isinstance(f, ast.Attribute) and f.attr == fn.name and isinstance(f.value, ast.Name) \
                    and f.value.id == "self"
            else:
                ok = isinstance(f, ast.Name) and f.id == fn.name
            if ok:
                c_open = text.index("(", abs_offset(starts, f.end_lineno, f.end_col_offset, text))
                call = (c_open, len(c.args))
                break
        sites.append(FnSite(fn.name, close, len(plain), params, call))
    return sites


def matching_brace(text: str, open_at: int) -> int | None:
    """Offset of the '}' closing the '{' at `open_at` (strings skipped roughly)."""
    depth = 0
    i = open_at
    quote = None
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\":
                i += 2
                continue
            if c == quote:
                quote = None
        elif c == "/" and text.startswith("//", i):
            nl = text.find("\n", i)
            i = len(text) if nl < 0 else nl
            continue
        elif c in "\"`":
            quote = c
        elif c == "'" and re.match(r"'(?:[^'\\\n]|\\.)+'", text[i : i + 8]):
            quote = c
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return None


def first_use(text: str, name: str, begin: int, end: int) -> int | None:
    """First occurrence of identifier `name` in [begin, end) that reads the variable: not a field
    (`.name`, `::name`), not a struct field or object key (`name:`), not in a `//` comment, not
    after an odd number of double quotes on its line."""
    pat = re.compile(r"(?<![\w$.:])" + re.escape(name) + r"(?![\w$])")
    for m in pat.finditer(text, begin, end):
        ls = text.rfind("\n", 0, m.start()) + 1
        before = text[ls : m.start()]
        if "//" in before or before.count('"') % 2 or before.count("`") % 2:
            continue
        rest = text[m.end() : m.end() + 3]
        if re.match(r"\s*:(?!:)", rest) or re.match(r"\s*=>", rest):
            continue
        return m.start()
    return None


def regex_sites(text: str, language: str) -> list[FnSite]:
    """Function definitions of a Rust, TypeScript or JavaScript file, found textually."""
    sites = []
    pats = DEF_PATTERNS.get(family(language), [])[:2]  # fn / function / const f = ( ... ) only
    for pat in pats:
        for m in pat.finditer(text):
            name = m.group(1)
            open_at = m.end() - 1
            close = matching_paren(text, open_at)
            if close is None:
                continue
            body_open = text.find("{", close)
            head = text[close:body_open] if body_open >= 0 else ""
            if body_open < 0 or ";" in head or len(head) > 200:
                continue
            body_close = matching_brace(text, body_open)
            if body_close is None:
                continue
            params_text = text[open_at + 1 : close]
            parts, offs, depth, cur = [], [], 0, open_at + 1
            for k, ch in enumerate(params_text):
                if ch in "([{<":
                    depth += 1
                elif ch in ")]}>" and not params_text[max(0, k - 1) : k + 1] in ("->", "=>"):
                    depth -= 1
                if ch == "," and depth == 0:
                    parts.append(text[cur : open_at + 1 + k])
                    offs.append(cur)
                    cur = open_at + 1 + k + 1
            parts.append(text[cur:close])
            offs.append(cur)
            params, n, receiver = [], 0, False
            for part, off in zip(parts, offs):
                if not part.strip():
                    continue
                if re.match(r"\s*(&\s*('\w+\s*)?)?(mut\s+)?self\b", part):
                    receiver = True
                    continue
                n += 1
                pm = re.match(r"(\s*(?:mut\s+)?)([A-Za-z_$][\w$]*)\s*\??\s*:", part) if language == "rust" or \
                    family(language) == "js" else None
                if family(language) == "js" and not pm:
                    pm = re.match(r"(\s*)([A-Za-z_$][\w$]*)\s*(?:=|$)", part)
                if not pm or pm.group(2) in KEYWORDS:
                    continue
                d0 = off + len(pm.group(1))
                params.append((pm.group(2), d0, first_use(text, pm.group(2), body_open + 1, body_close)))
            call = None
            if not receiver:
                cpat = re.compile(r"(?<![\w$.:])" + re.escape(name) + r"\s*\(")
                for c in cpat.finditer(text):
                    if m.start() <= c.start() <= body_close:
                        continue
                    ls = text.rfind("\n", 0, c.start()) + 1
                    before = text[ls : c.start()]
                    if "//" in before or before.count('"') % 2 or re.search(r"\b(fn|function)\s*$", before):
                        continue
                    c_open = c.end() - 1
                    c_close = matching_paren(text, c_open)
                    if c_close is None:
                        break
                    call = (c_open, arity(text[c_open + 1 : c_close]))
                    break
            sites.append(FnSite(name, close, n, params, call))
    sites.sort(key=lambda f: f.close)
    return sites


def scripted_repo_cases(repo: Path, rev: str, name: str) -> list[dict]:
    """Scripted pairs on this repository's own files at `rev` (Rust, TypeScript, JavaScript)."""
    out = []
    files = git(repo, "ls-tree", "-r", "-z", "--name-only", rev).decode().split("\0")
    for path in sorted(f for f in files if f):
        ext = path.rsplit(".", 1)[-1] if "." in path else ""
        lang = LANGUAGES.get(ext)
        if lang not in ("rust", "typescript", "typescriptreact", "javascript", "javascriptreact"):
            continue
        try:
            text = git(repo, "cat-file", "blob", f"{rev}:{path}").decode("utf-8")
        except (subprocess.CalledProcessError, UnicodeDecodeError):
            continue
        if text.count("\n") > MAX_DOC_LINES:
            continue
        meta = {"id": f"scripted:{name}:{rev[:12]}:{path}", "source": f"scripted:{name}", "commit": rev,
                "path": path, "language": lang, "scripted": True}
        out.extend(scripted_from_sites(text, lang, regex_sites(text, lang), meta))
    return out


def scripted_cases(sdist: Path, expect_sha: str | None) -> list[dict]:
    """Scripted pairs on the modules of a PyPI sdist."""
    name = f"{PINNED_SDIST['name']}=={PINNED_SDIST['version']}" if expect_sha else sdist.name
    out = []
    for rel, text in sdist_files(sdist, expect_sha):
        if text.count("\n") > MAX_DOC_LINES:
            continue
        meta = {"id": f"pypi:{name}:{rel}", "source": f"pypi:{name}", "commit": None, "path": rel,
                "language": "python", "scripted": True}
        out.extend(scripted_from_sites(text, "python", python_sites(text), meta))
    return out


# ------------------------------------------------------------------------------------------------

def check(case: dict) -> None:
    """Every case replays: the ranges lie in their documents and B is not a no-op."""
    doc = case["document"]
    for e in case["history"] + [case["edit_a"]]:
        doc = apply_lsp(doc, e)
    after = apply_lsp(doc, case["expected"])
    if after == doc:
        raise AssertionError(f"{case['id']}: B changes nothing")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repo", type=Path, default=HERE.parent.parent, help="git repository (default: this one)")
    ap.add_argument("--rev", default=PINNED_REV, help="history up to this commit (default: pinned)")
    ap.add_argument("--name", default="baton", help="repository name used in case ids")
    ap.add_argument("--pypi-sdist", type=Path, help=f"the pinned sdist ({PINNED_SDIST['filename']})")
    ap.add_argument("--any-sdist", action="store_true", help="accept an sdist other than the pinned one")
    ap.add_argument("--out", type=Path, default=HERE / "dataset.jsonl")
    ap.add_argument("--no-scripted", action="store_true", help="no scripted edits on the repository's files")
    ap.add_argument("--stats", action="store_true", help="print counts per source and category")
    args = ap.parse_args()

    cases = git_cases(args.repo, args.rev, args.name)
    if not args.no_scripted:
        cases += scripted_repo_cases(args.repo, args.rev, args.name)
    if args.pypi_sdist:
        cases += scripted_cases(args.pypi_sdist, None if args.any_sdist else PINNED_SDIST["sha256"])
    # Global caps per category and source kind, spread by a hash of the id.
    final = []
    for kind in ("git", "scripted", "pypi"):
        for cat, limit in sorted(DEFAULT_CAPS[kind].items()):
            sel = [c for c in cases if c["category"] == cat and c["source"].startswith(kind + ":")]
            final.extend(cap(sel, limit, f"{kind}:{cat}"))
    seen = set()
    uniq = []
    for c in final:
        key = json.dumps([c["document"], c["history"], c["edit_a"], c["expected"]], sort_keys=True)
        if key in seen:
            continue
        seen.add(key)
        check(c)
        uniq.append(c)
    uniq.sort(key=lambda c: c["id"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", encoding="utf-8", newline="\n") as f:
        for c in uniq:
            f.write(json.dumps(c, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n")
    counts: dict[tuple[str, str], int] = {}
    for c in uniq:
        k = (c["source"], c["category"])
        counts[k] = counts.get(k, 0) + 1
    size = args.out.stat().st_size
    print(f"{len(uniq)} cases, {size / 1024:.0f} KiB -> {args.out}", file=sys.stderr)
    if args.stats:
        for (src, cat), n in sorted(counts.items()):
            print(f"  {src:30} {cat:14} {n}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
