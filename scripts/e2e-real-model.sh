#!/usr/bin/env bash
# End to end on a real local model: Qwen2.5-Coder-0.5B under llama.cpp's llama-server
# (scripts/local-model.sh), the real `baton` binary and headless Neovim 0.11.4 with the plugin.
# Copies a small real source file into a temp dir, cuts a line inside a function body, enters
# insert mode there and waits (up to 120 s) for the ghost text. Prints a report; exits non-zero
# when no suggestion arrived.
#
# Environment:
#   BATON_CACHE              cache root shared with local-model.sh and the Neovim install
#                            (default <repo>/.cache; e.g. /work/main/.cache to reuse a prepared model)
#   BATON_NVIM_CACHE         where Neovim is installed (default: $BATON_CACHE)
#   BATON_MODEL_PORT         model server port (default 8080); a healthy server there is reused
#   BATON_E2E_NO_PREPARE=1   do not build/download the model when it is missing: print why and
#                            exit 0 as skipped (for CI machines without the cache)
#   BATON_E2E_TIMEOUT_MS     how long to wait for the ghost text (default 120000)
#   CARGO_TARGET_DIR         respected when set
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PORT="${BATON_MODEL_PORT:-8080}"
URL="http://127.0.0.1:$PORT"
TIMEOUT_MS="${BATON_E2E_TIMEOUT_MS:-120000}"

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
(cd "$REPO" && CARGO_TARGET_DIR="$TARGET" cargo build --quiet --bin baton >&2)
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
RESULTS="$TMP/results"
: >"$RESULTS"

log "running headless Neovim (waiting up to $((TIMEOUT_MS / 1000)) s for the ghost text)"
set +e
env BATON_BIN="$BATON_BIN" BATON_SPEC="$REPO/editors/nvim/tests/e2e_real_model.lua" \
    BATON_TEST_RESULTS="$RESULTS" BATON_TEST_TMP="$TMP" \
    BATON_TEST_TIMEOUT_MS="$((TIMEOUT_MS + 30000))" BATON_E2E_TIMEOUT_MS="$TIMEOUT_MS" \
    BATON_E2E_MODEL_URL="$URL" BATON_E2E_MODEL="qwen2.5-coder-0.5b" \
    BATON_E2E_FILE="$TMP/project/did_close.rs" \
    BATON_E2E_LINE='state%.docs%.remove%(uri%);' BATON_E2E_CUT_AFTER='state.docs.' \
    XDG_CONFIG_HOME="$TMP/xdg-config" XDG_DATA_HOME="$TMP/xdg-data" XDG_STATE_HOME="$TMP/xdg-state" \
    timeout $((TIMEOUT_MS / 1000 + 60)) "$NVIM" --headless -u "$REPO/editors/nvim/tests/minimal_init.lua" \
    </dev/null >"$TMP/nvim.out" 2>&1
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
    exit 1
fi
echo "OK"
