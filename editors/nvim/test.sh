#!/usr/bin/env bash
# Headless Neovim tests for the Baton plugin: two gates first (StyLua formatting and an
# emmylua_check type check of the plugin's LuaCATS annotations against Neovim's own `vim` types),
# then real Neovim 0.11.4 with the real `baton` binary and the scripted model server. Installs
# Neovim and the gates' tools into the cache when missing, builds the server, runs every
# tests/*_spec.lua in its own Neovim, and ends with one line: `N passed, M failed` (each gate
# counts as one).
#
# Environment:
#   BATON_CACHE        cache root (default <repo>/.cache); Neovim goes to $BATON_CACHE/nvim,
#                      StyLua and emmylua_check (cargo install, pinned) to $BATON_CACHE/lua-tools
#   CARGO_TARGET_DIR   respected when set (binaries are taken from there)
#   BATON_NO_BUILD=1   skip cargo build (use the binaries already in the target dir)
#   BATON_TEST_VERBOSE=1  print the server log for failing tests
#   BATON_SPECS        space-separated spec files to run instead of all of them
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"

log() { printf '[nvim-test] %s\n' "$*" >&2; }
die() { log "error: $*"; echo "${passed:-0} passed, $((${failed:-0} + 1)) failed"; exit 1; }
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

passed=0
failed=0

# --- Neovim ------------------------------------------------------------------------------------
NVIM="$("$HERE/install-nvim.sh")" || die "cannot install Neovim 0.11.4"
log "neovim: $NVIM"

# --- Gates: StyLua and emmylua_check -----------------------------------------------------------
# No registry carries a prebuilt StyLua or a LuaLS-style checker binary (lua-language-server is on
# none of crates.io, PyPI, npm or Debian bookworm), so both are built once with `cargo install
# --locked` at pinned versions into the cache.
STYLUA_VERSION=2.6.0
EMMYLUA_CHECK_VERSION=0.25.1
LUA_TOOLS="${BATON_CACHE:-$REPO/.cache}/lua-tools"

# cargo_tool CRATE VERSION [cargo install args...]: prints the binary, installing it when missing.
cargo_tool() {
    local crate="$1" version="$2" root="$LUA_TOOLS/$1-$2"
    shift 2
    if [ ! -x "$root/bin/$crate" ]; then
        local start build
        start=$(date +%s%N)
        build="$(mktemp -d)"
        log "installing $crate $version (cargo install, once)"
        CARGO_TARGET_DIR="$build" cargo install --quiet --locked --root "$root" "$@" "$crate@$version" >&2 \
            || { rm -rf "$build"; log "cargo install $crate@$version failed"; return 1; }
        rm -rf "$build"
        log "installed $crate $version in $(ms_since "$start") ms"
    fi
    echo "$root/bin/$crate"
}

# gate NAME COMMAND...: one passed or one failed; a failure prints the findings and how to rerun.
gate() {
    local name="$1" start out
    shift
    start=$(date +%s%N)
    out="$(mktemp)"
    if (cd "$HERE" && "$@") >"$out" 2>&1; then
        passed=$((passed + 1))
        log "gate $name: ok ($(ms_since "$start") ms)"
    else
        failed=$((failed + 1))
        log "gate $name FAILED ($(ms_since "$start") ms; rerun in editors/nvim: $*):"
        sed 's/^/    /' "$out" >&2
    fi
    rm -f "$out"
}

if STYLUA="$(cargo_tool stylua "$STYLUA_VERSION" --no-default-features --features luajit)"; then
    # Settings in stylua.toml.
    gate stylua "$STYLUA" --check lua tests types
else
    failed=$((failed + 1))
    log "gate stylua FAILED: cannot install StyLua $STYLUA_VERSION"
fi
if EMMYLUA_CHECK="$(cargo_tool emmylua_check "$EMMYLUA_CHECK_VERSION")"; then
    # Settings in .emmyrc.json; its library is $VIMRUNTIME/lua, Neovim's own type annotations.
    runtime="$("$NVIM" --clean --headless --cmd 'lua io.stdout:write(vim.env.VIMRUNTIME)' --cmd 'qa!')"
    [ -d "$runtime/lua/vim/_meta" ] || die "no Neovim type annotations under VIMRUNTIME=$runtime"
    gate emmylua_check env VIMRUNTIME="$runtime" "$EMMYLUA_CHECK" --warnings-as-errors .
else
    failed=$((failed + 1))
    log "gate emmylua_check FAILED: cannot install emmylua_check $EMMYLUA_CHECK_VERSION"
fi

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

# start_model NAME REPLY [OPTIONS...]: starts a scripted model, sets ${NAME}_URL.
start_model() {
    local name="$1" reply="$2" out="$TMP/$1.out"
    shift 2
    "$MODEL_BIN" --reply "$reply" --requests-log "$TMP/$name.requests" "$@" >"$out" 2>"$TMP/$name.err" &
    PIDS+=("$!")
    local url=""
    for _ in $(seq 1 200); do
        url="$(head -n1 "$out" 2>/dev/null || true)"
        [ -n "$url" ] && break
        sleep 0.05
    done
    [ -n "$url" ] || die "scripted model $name did not print its URL ($(cat "$TMP/$name.err"))"
    printf -v "${name}_URL" '%s' "$url"
}

CODE_REPLY='return a + b'
EDIT_REPLY=$'```python\ndef add(x, y):\n    return x + y\n```'
MULTI_REPLY=$'total = a + b\n    return total'
start_model CODE "$CODE_REPLY"
start_model MULTI "$MULTI_REPLY"
start_model EDIT "$EDIT_REPLY"
# Inline completion's alternatives are asked at temperatures 0.6 and 0.8: each gets its own text.
start_model ALTS "$CODE_REPLY" --reply-at '0.6=return b + a' --reply-at '0.8=return sum((a, b))'

# --- Specs -------------------------------------------------------------------------------------
if [ -n "${BATON_SPECS:-}" ]; then
    read -r -a SPECS <<<"$BATON_SPECS"
else
    SPECS=("$HERE"/tests/*_spec.lua)
fi
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
        BATON_CODE_REPLY="$CODE_REPLY" BATON_ALTS_URL="$ALTS_URL" \
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
