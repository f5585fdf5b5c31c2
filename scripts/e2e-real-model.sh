#!/usr/bin/env bash
# End to end on a real local model: Qwen2.5-Coder-0.5B under llama.cpp's llama-server
# (scripts/local-model.sh), the real `baton` binary and headless Neovim 0.11.4 with the plugin.
# Two scenarios, each in its own headless Neovim:
# - ghost text: copies a small real source file into a temp dir, cuts a line inside a function
#   body, enters insert mode there and waits (up to 120 s) for the ghost text;
# - next edit (editors/nvim/tests/e2e_real_model_nes.lua): appends `.strip()` to one assignment
#   with real keys, waits (up to 120 s) for the model's next edit on the next assignment (an edit
#   no structural prediction makes), accepts it with <Tab><Tab>, then the chained one; asserts
#   the buffer and the `model:` accepts in the server log.
# Prints a report; exits non-zero when either failed.
#
# Environment:
#   BATON_CACHE              cache root shared with local-model.sh and the Neovim install
#                            (default <repo>/.cache; e.g. /work/main/.cache to reuse a prepared model)
#   BATON_NVIM_CACHE         where Neovim is installed (default: $BATON_CACHE)
#   BATON_MODEL_PORT         model server port (default 8080); a healthy server there is reused
#   BATON_E2E_NO_PREPARE=1   do not build/download the model when it is missing: print why and
#                            exit 0 as skipped (for CI machines without the cache)
#   BATON_E2E_TIMEOUT_MS     how long to wait for the ghost text / a next edit (default 120000)
#   BATON_E2E_SCENARIOS      which scenarios to run (default "ghost nes vscode")
#   CARGO_TARGET_DIR         respected when set
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PORT="${BATON_MODEL_PORT:-8080}"
URL="http://127.0.0.1:$PORT"
TIMEOUT_MS="${BATON_E2E_TIMEOUT_MS:-120000}"
SCENARIOS="${BATON_E2E_SCENARIOS:-ghost nes vscode}"

log() { printf '[e2e-real-model] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

health_ok() { curl -fsS -m 2 "$URL/health" 2>/dev/null | grep -q '"status":"ok"'; }

# --- Model server --------------------------------------------------------------------------------
STARTED_MODEL=0
if health_ok; then
    log "model server already up at $URL"
else
    mapfile -t paths < <("$REPO/scripts/local-model.sh" path)
    if [ ! -x "${paths[0]}" ] || [ ! -f "${paths[1]}" ]; then
        if [ "${BATON_E2E_NO_PREPARE:-0}" = 1 ]; then
            echo "e2e-real-model: SKIPPED: no model server at $URL and the model is not prepared" \
                "(missing ${paths[0]} or ${paths[1]}); BATON_E2E_NO_PREPARE=1 forbids building it." \
                "Run scripts/local-model.sh prepare, or set BATON_CACHE to a prepared cache."
            exit 0
        fi
        log "preparing the model (scripts/local-model.sh prepare; the first time builds llama-server)"
        "$REPO/scripts/local-model.sh" prepare >&2
    fi
    log "starting the model server on port $PORT"
    "$REPO/scripts/local-model.sh" start "$PORT" >&2
    STARTED_MODEL=1
fi

# --- Neovim and baton ----------------------------------------------------------------------------
NVIM="$("$REPO/editors/nvim/install-nvim.sh")"
TARGET="${CARGO_TARGET_DIR:-$REPO/target}"
log "building baton (cargo, target $TARGET)"
(cd "$REPO" && CARGO_TARGET_DIR="$TARGET" cargo build --quiet --bin baton --example scripted_model >&2)
BATON_BIN="$TARGET/debug/baton"

# --- The real file ---------------------------------------------------------------------------------
TMP="$(mktemp -d)"
cleanup() {
    if [ "$STARTED_MODEL" = 1 ]; then "$REPO/scripts/local-model.sh" stop >&2 || true; fi
    rm -rf "$TMP"
}
trap cleanup EXIT
mkdir -p "$TMP/project/.git" "$TMP/xdg-config" "$TMP/xdg-data" "$TMP/xdg-state"
# A frozen copy of an old handler: the live source changes, the cut line must not.
SRC="tests/fixtures/e2e/did_close.rs"
cp "$REPO/$SRC" "$TMP/project/did_close.rs"
run_nvim() { # SPEC RESULTS OUT [VAR=VALUE...]: one headless Neovim run of a spec; its exit code
    local spec="$1" results="$2" out="$3"
    shift 3
    : >"$results"
    env BATON_BIN="$BATON_BIN" BATON_SPEC="$spec" \
        BATON_TEST_RESULTS="$results" BATON_TEST_TMP="$TMP" \
        BATON_TEST_TIMEOUT_MS="$((TIMEOUT_MS * 2 + 30000))" BATON_E2E_TIMEOUT_MS="$TIMEOUT_MS" \
        BATON_E2E_MODEL_URL="$URL" BATON_E2E_MODEL="qwen2.5-coder-0.5b" \
        XDG_CONFIG_HOME="$TMP/xdg-config" XDG_DATA_HOME="$TMP/xdg-data" XDG_STATE_HOME="$TMP/xdg-state" \
        "$@" \
        timeout $((TIMEOUT_MS * 2 / 1000 + 60)) "$NVIM" --headless -u "$REPO/editors/nvim/tests/minimal_init.lua" \
        </dev/null >"$out" 2>&1
}

failed=0
if [[ " $SCENARIOS " == *" ghost "* ]]; then
    RESULTS="$TMP/results"
    log "ghost text: running headless Neovim (waiting up to $((TIMEOUT_MS / 1000)) s for the ghost text)"
    set +e
    run_nvim "$REPO/editors/nvim/tests/e2e_real_model.lua" "$RESULTS" "$TMP/nvim.out" \
        BATON_E2E_FILE="$TMP/project/did_close.rs" \
        BATON_E2E_LINE='state%.docs%.remove%(uri%);' BATON_E2E_CUT_AFTER='state.docs.'
    rc=$?
    set -e
    echo "=== Baton e2e on a real model (Neovim 0.11.4, ghost text) ==="
    echo "source: $SRC (copied to a temp project)"
    sed -n 's/^REPORT //p' "$RESULTS"
    if grep -q '^not ok' "$RESULTS" || [ "$rc" -ne 0 ] || ! grep -q '^REPORT suggestion' "$RESULTS"; then
        echo "FAILED: no ghost text from the real model (exit $rc)"
        grep '^not ok' "$RESULTS" || true
        log "server log:"
        tail -n 30 "$TMP"/baton-*.log >&2 2>/dev/null || true
        failed=1
    else
        echo "OK"
    fi
fi
if [[ " $SCENARIOS " == *" nes "* ]]; then
    RESULTS="$TMP/results-nes"
    log "next edit: running headless Neovim (waiting up to $((TIMEOUT_MS / 1000)) s per model suggestion)"
    rm -f "$TMP"/baton-*.log
    set +e
    run_nvim "$REPO/editors/nvim/tests/e2e_real_model_nes.lua" "$RESULTS" "$TMP/nvim-nes.out"
    rc=$?
    set -e
    echo "=== Baton e2e on a real model (Neovim 0.11.4, next edit suggestions) ==="
    sed -n 's/^REPORT //p' "$RESULTS"
    if grep -q '^not ok' "$RESULTS" || [ "$rc" -ne 0 ] || ! grep -q '^REPORT nes chained' "$RESULTS"; then
        echo "FAILED: the model's next edits were not shown and accepted (exit $rc)"
        grep '^not ok' "$RESULTS" || true
        log "server log:"
        grep -E 'next edit|WARN|ERROR' "$TMP"/baton-*.log >&2 2>/dev/null | tail -n 30 >&2 || true
        failed=1
    else
        echo "OK"
    fi
fi
if [[ " $SCENARIOS " == *" vscode "* ]]; then
    log "next edit in VS Code: editors/vscode/test.sh with the real model"
    set +e
    vs_out="$(BATON_E2E_MODEL_URL="$URL" BATON_E2E_MODEL="qwen2.5-coder-0.5b" BATON_NO_BUILD=1 \
        CARGO_TARGET_DIR="$TARGET" "$REPO/editors/vscode/test.sh" 2>&1)"
    rc=$?
    set -e
    echo "=== Baton e2e on a real model (VS Code in code-server, next edit suggestions) ==="
    printf '%s\n' "$vs_out" | grep -E '^(ok|FAIL|not ok)|passed, [0-9]+ failed$|model next edit' || true
    if [ "$rc" -ne 0 ] || ! printf '%s\n' "$vs_out" | grep -q '^ok   next edit from the real model'; then
        echo "FAILED: VS Code's real-model check (exit $rc; $(printf '%s\n' "$vs_out" | tail -n1))"
        failed=1
    else
        echo "OK"
    fi
fi
exit "$failed"
