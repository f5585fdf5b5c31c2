#!/usr/bin/env bash
# Performance benchmark side by side (issue 13): Baton, tabby-agent 1.5.0 and lsp-ai 0.7.0 over
# stdio against one scripted model (tests/bench/perf/scripted_model.py), replaying the same typing
# trace (81 keystrokes, 4 pauses, 150 ms model) and the same overhead runs (300 requests on a
# 10,000-line module and on a 10,000-line one-class file, 0 ms model). Prints one table: model
# calls started and completed, stale answers, pause-to-suggestion p50/p90, server overhead p50/p99,
# didChange cost, memory with 100 open files; then the command. A benchmark, not a test: not in
# scripts/test.sh. Driver: tests/bench/perf/bench_perf.py. Results: tests/bench/perf/RESULTS.md.
#
#   scripts/bench-perf.sh [OPTIONS]
#
# Options:
#   --servers LIST   baton,tabby-agent,lsp-ai (default all three; `--servers baton` needs no
#                    installs, for CI and quick runs); add `bare` for the reference server
#                    (tests/bench/perf/bare_server.rs: one model call a request and nothing else,
#                    the module's overhead row only), the floor of the measurement on the machine
#   --baton PATH     the binary to measure (default: scripts/build-release.sh, the profile-guided
#                    release build; target/pgo/release/baton)
#   --json FILE      also write the raw numbers as JSON
#   --trace-delay-ms N  the scripted model's delay in the typing trace (default 150; overhead: 0)
#   --settings JSON  merged into Baton's initializationOptions in every run, e.g.
#                    '{"completion": {"max_debounce_ms": 100}}' (a variant of a setting; the table
#                    names it)
#   --trace-only     only the typing trace and its rows (~30 s a server)
#   --compare OLD,NEW   instead of the table: two Baton builds on the overhead rows, their runs
#                    interleaved (A B B A, B A A B per round; each run a fresh server from an
#                    executable read from disk); prints each build's mean p50 / p99, the lowest and
#                    highest, and the difference. How to tell whether a change to the hot path
#                    helps on a noisy machine (tests/bench/perf/RESULTS.md). No installs, no build.
#   --rounds N       with --compare: rounds (default 2: eight runs of each build a row, ~7 min)
#   --rows LIST      with --compare: module,class,plain (default module,class)
#   --steps          with --compare: also each step of a request's path, p50 / p90 in us over
#                    every request of each build (the builds' step marks, server/step_marks.rs:
#                    BATON_STEP_MARKS); judges a change of a few us to one step
#
# Installs (once, skipped when present) into $BATON_CACHE/bench-perf (BATON_CACHE defaults to
# <repo>/.cache): lsp-ai 0.7.0 from crates.io (`cargo install --locked`, default features; ~35 min
# on 2 busy cores) and tabby-agent 1.5.0 from npm (seconds). Needs cargo, node >= 18 and npm.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export BATON_CACHE="${BATON_CACHE:-$REPO/.cache}"
CACHE="$BATON_CACHE/bench-perf"
TARGET="${CARGO_TARGET_DIR:-$REPO/target}"
DRIVER="$REPO/tests/bench/perf/bench_perf.py"
LSP_AI_VERSION=0.7.0
TABBY_AGENT_VERSION=1.5.0

log() { printf '[bench-perf] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

SERVERS="baton,tabby-agent,lsp-ai"
BATON_BIN=""
BATON_GIVEN=""
JSON_OUT=""
TRACE_DELAY=150
COMPARE=""
ROUNDS=2
ROWS="module,class"
STEPS=""
SETTINGS=""
TRACE_ONLY=""
args=("$@")
while [ $# -gt 0 ]; do
    case "$1" in
        --servers) SERVERS="${2:?--servers needs a list}"; shift 2 ;;
        --baton) BATON_BIN="${2:?--baton needs a path}"; BATON_GIVEN=1; shift 2 ;;
        --json) JSON_OUT="${2:?--json needs a file}"; shift 2 ;;
        --trace-delay-ms) TRACE_DELAY="${2:?--trace-delay-ms needs a number}"; shift 2 ;;
        --compare) COMPARE="${2:?--compare needs OLD,NEW}"; shift 2 ;;
        --rounds) ROUNDS="${2:?--rounds needs a number}"; shift 2 ;;
        --rows) ROWS="${2:?--rows needs a list}"; shift 2 ;;
        --steps) STEPS=1; shift ;;
        --settings) SETTINGS="${2:?--settings needs a JSON object}"; shift 2 ;;
        --trace-only) TRACE_ONLY=1; shift ;;
        -h | --help) sed -n '2,/^set /p' "$0" | sed -n 's/^# \{0,1\}//p'; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done
COMMAND="scripts/bench-perf.sh${args[*]:+ ${args[*]}}"
wants() { case ",$SERVERS," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }

[ -z "$STEPS" ] || [ -n "$COMPARE" ] || die "--steps goes with --compare OLD,NEW"
[ -z "$SETTINGS$TRACE_ONLY" ] || [ -z "$COMPARE" ] || die "--settings and --trace-only go with the table, not --compare"
if [ -n "$COMPARE" ]; then
    old="${COMPARE%%,*}"
    new="${COMPARE#*,}"
    [ "$old" != "$COMPARE" ] && [ -n "$old" ] && [ -n "$new" ] || die "--compare needs OLD,NEW (two binaries)"
    [ -x "$old" ] || die "no executable at $old"
    [ -x "$new" ] || die "no executable at $new"
    machine="$(nproc) cores, $(uname -m), load $(cut -d' ' -f1-3 /proc/loadavg)"
    meta="$(python3 -c 'import json, sys; print(json.dumps({"machine": sys.argv[1]}))' "$machine")"
    extra=()
    [ -z "$JSON_OUT" ] || extra+=(--out "$JSON_OUT")
    [ -z "$STEPS" ] || extra+=(--steps)
    exec python3 "$DRIVER" --compare "$old" "$new" --rounds "$ROUNDS" --rows "$ROWS" --command "$COMMAND" \
        --meta "$meta" "${extra[@]}"
fi

# --- The peers, into the cache ------------------------------------------------------------------
LSP_AI_BIN="$CACHE/lsp-ai/bin/lsp-ai"
TABBY_AGENT_JS="$CACHE/npm/node_modules/tabby-agent/dist/cli.js"
if wants lsp-ai; then
    if [ ! -x "$LSP_AI_BIN" ] || ! "$LSP_AI_BIN" --version 2>/dev/null | grep -q "$LSP_AI_VERSION"; then
        command -v cargo >/dev/null || die "cargo is needed to install lsp-ai"
        log "installing lsp-ai $LSP_AI_VERSION from crates.io into $CACHE/lsp-ai (cargo install; slow the first time)"
        start=$(date +%s)
        cargo install lsp-ai --version "$LSP_AI_VERSION" --locked --root "$CACHE/lsp-ai" >&2
        log "lsp-ai installed in $(( $(date +%s) - start )) s"
    fi
fi
if wants tabby-agent; then
    if [ ! -f "$TABBY_AGENT_JS" ] || ! grep -q "\"version\": \"$TABBY_AGENT_VERSION\"" \
        "$CACHE/npm/node_modules/tabby-agent/package.json" 2>/dev/null; then
        command -v npm >/dev/null || die "npm is needed to install tabby-agent"
        log "installing tabby-agent $TABBY_AGENT_VERSION from npm into $CACHE/npm"
        start=$(date +%s)
        mkdir -p "$CACHE/npm"
        npm install --prefix "$CACHE/npm" --no-audit --no-fund --ignore-scripts \
            "tabby-agent@$TABBY_AGENT_VERSION" >&2
        log "tabby-agent installed in $(( $(date +%s) - start )) s"
    fi
    command -v node >/dev/null || die "node is needed to run tabby-agent"
fi

# --- Baton --------------------------------------------------------------------------------------
if [ -z "$BATON_BIN" ]; then
    # The release build users are told to install: profile-guided (~5 minutes of it each run,
    # the optimized build being made again with the new training's counts; ~11 the first time).
    log "building baton (scripts/build-release.sh)"
    BATON_BIN="$("$REPO/scripts/build-release.sh" | tail -n1)"
fi
[ -x "$BATON_BIN" ] || die "no baton binary at $BATON_BIN"
BARE_BIN=""
if wants bare; then
    log "building the reference server (cargo build --release --example bare_server)"
    (cd "$REPO" && cargo build --quiet --release --locked --example bare_server >&2)
    BARE_BIN="$TARGET/release/examples/bare_server"
fi

commit="$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)"
if ! git -C "$REPO" diff --quiet HEAD -- server 2>/dev/null; then commit="$commit+dirty"; fi
# A binary given with --baton may come from any commit: the report names the checkout's and the
# binary's own digest, so a table is never credited to the wrong code.
if [ -n "$BATON_GIVEN" ]; then
    commit="$commit (the checkout; baton given as $BATON_BIN, sha256 $(sha256sum "$BATON_BIN" | cut -c1-12))"
fi
machine="$(nproc) cores, $(uname -m), load $(cut -d' ' -f1-3 /proc/loadavg)"
meta="$(python3 -c 'import json, sys; print(json.dumps({"commit": sys.argv[1], "machine": sys.argv[2]}))' \
    "$commit" "$machine")"

extra=()
[ -z "$JSON_OUT" ] || extra+=(--out "$JSON_OUT")
[ -z "$SETTINGS" ] || extra+=(--settings "$SETTINGS")
[ -z "$TRACE_ONLY" ] || extra+=(--trace-only)
python3 "$DRIVER" --servers "$SERVERS" --baton "$BATON_BIN" --tabby-agent "$TABBY_AGENT_JS" \
    --lsp-ai "$LSP_AI_BIN" --bare "$BARE_BIN" --trace-delay-ms "$TRACE_DELAY" --command "$COMMAND" --meta "$meta" "${extra[@]}"
