#!/usr/bin/env bash
# Headless Neovim tests for the Baton plugin: real Neovim 0.11.4, the real `baton` binary and
# the scripted model server. Installs Neovim into the cache when missing, builds the server,
# runs every tests/*_spec.lua in its own Neovim, and ends with one line: `N passed, M failed`.
#
# Environment:
#   BATON_CACHE        cache root (default <repo>/.cache); Neovim goes to $BATON_CACHE/nvim
#   CARGO_TARGET_DIR   respected when set (binaries are taken from there)
#   BATON_NO_BUILD=1   skip cargo build (use the binaries already in the target dir)
#   BATON_TEST_VERBOSE=1  print the server log for failing tests
#   BATON_SPECS        space-separated spec files to run instead of all of them
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"

log() { printf '[nvim-test] %s\n' "$*" >&2; }
die() { log "error: $*"; echo "0 passed, 1 failed"; exit 1; }

# --- Neovim ------------------------------------------------------------------------------------
NVIM="$("$HERE/install-nvim.sh")" || die "cannot install Neovim 0.11.4"
log "neovim: $NVIM"

# --- Server ------------------------------------------------------------------------------------
TARGET="${CARGO_TARGET_DIR:-$REPO/target}"
if [ "${BATON_NO_BUILD:-0}" != 1 ]; then
    log "building baton and the scripted model (cargo, target $TARGET)"
    (cd "$REPO" && CARGO_TARGET_DIR="$TARGET" cargo build --quiet --bin baton --example scripted_model >&2) \
        || die "cargo build failed"
fi
BATON_BIN="$TARGET/debug/baton"
MODEL_BIN="$TARGET/debug/examples/scripted_model"
[ -x "$BATON_BIN" ] || die "missing $BATON_BIN"
[ -x "$MODEL_BIN" ] || die "missing $MODEL_BIN"

# --- Scripted model servers --------------------------------------------------------------------
TMP="$(mktemp -d)"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT

# start_model NAME REPLY: starts a scripted model, sets ${NAME}_URL.
start_model() {
    local name="$1" reply="$2" out="$TMP/$1.out"
    "$MODEL_BIN" --reply "$reply" --requests-log "$TMP/$1.requests" >"$out" 2>"$TMP/$1.err" &
    PIDS+=("$!")
    local url=""
    for _ in $(seq 1 200); do
        url="$(head -n1 "$out" 2>/dev/null || true)"
        [ -n "$url" ] && break
        sleep 0.05
    done
    [ -n "$url" ] || die "scripted model $name did not print its URL ($(cat "$TMP/$1.err"))"
    printf -v "${name}_URL" '%s' "$url"
}

CODE_REPLY='return a + b'
EDIT_REPLY=$'```python\ndef add(x, y):\n    return x + y\n```'
MULTI_REPLY=$'total = a + b\n    return total'
start_model CODE "$CODE_REPLY"
start_model MULTI "$MULTI_REPLY"
start_model EDIT "$EDIT_REPLY"

# --- Specs -------------------------------------------------------------------------------------
if [ -n "${BATON_SPECS:-}" ]; then
    read -r -a SPECS <<<"$BATON_SPECS"
else
    SPECS=("$HERE"/tests/*_spec.lua)
fi
passed=0
failed=0
start=$(date +%s%N)
for spec in "${SPECS[@]}"; do
    name="$(basename "$spec" .lua)"
    log "running $name"
    out="$TMP/$name.out"
    results="$TMP/$name.results"
    : >"$results"
    mkdir -p "$TMP/$name/xdg-config" "$TMP/$name/xdg-data" "$TMP/$name/xdg-state"
    set +e
    env BATON_BIN="$BATON_BIN" BATON_CODE_URL="$CODE_URL" BATON_EDIT_URL="$EDIT_URL" \
        BATON_CODE_REPLY="$CODE_REPLY" \
        BATON_MULTI_URL="$MULTI_URL" BATON_MULTI_REPLY="$MULTI_REPLY" BATON_SPEC="$spec" BATON_TEST_RESULTS="$results" BATON_TEST_TMP="$TMP/$name" \
        XDG_CONFIG_HOME="$TMP/$name/xdg-config" XDG_DATA_HOME="$TMP/$name/xdg-data" \
        XDG_STATE_HOME="$TMP/$name/xdg-state" \
        timeout 180 "$NVIM" --headless -u "$HERE/tests/minimal_init.lua" </dev/null >"$out" 2>&1
    rc=$?
    set -e
    grep -vE '^RESULT ' "$results" | sed "s/^/  [$name] /" >&2 || true
    result="$(grep -E '^RESULT [0-9]+ [0-9]+' "$results" | tail -n1 || true)"
    if [ -z "$result" ]; then
        log "$name: no result line (exit $rc); output:"
        sed 's/^/    /' "$out" >&2
        failed=$((failed + 1))
        continue
    fi
    p="$(echo "$result" | cut -d' ' -f2)"
    f="$(echo "$result" | cut -d' ' -f3)"
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        log "$name: exit $rc although every test passed"
        f=1
    fi
    passed=$((passed + p))
    failed=$((failed + f))
done
log "specs took $(( ($(date +%s%N) - start) / 1000000 )) ms"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
