#!/usr/bin/env bash
# A real headless agent CLI as a Baton `cli` agent: aider (PyPI aider-chat 0.86.2, installed into
# $BATON_CACHE/aider on first use, ~3 min) pointed at the local model (scripts/local-model.sh),
# takes the "add multiply and its test" task on a small Python repository through
# `baton task start`, and the resulting pull request is printed. Not part of CI (the install is
# large); a manual check of the CLI agent path against a real agent.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${BATON_CACHE:-$REPO/.cache}"
PORT="${BATON_MODEL_PORT:-8080}"
URL="http://127.0.0.1:$PORT"
AIDER="$CACHE/aider/bin/aider"
if [ ! -x "$AIDER" ]; then
    python3 -m venv "$CACHE/aider"
    "$CACHE/aider/bin/pip" install -q aider-chat==0.86.2
fi
STARTED=0
if ! curl -fsS -m 2 "$URL/health" 2>/dev/null | grep -q ok; then
    "$REPO/scripts/local-model.sh" start "$PORT" >&2
    STARTED=1
fi
(cd "$REPO" && cargo build --quiet --bin baton)
TMP="$(mktemp -d)"
trap '[ "$STARTED" = 1 ] && "$REPO/scripts/local-model.sh" stop >&2; rm -rf "$TMP"' EXIT
P="$TMP/calc"
mkdir -p "$P"
printf '"""Small arithmetic helpers."""\n\n\ndef add(a, b):\n    return a + b\n' >"$P/calc.py"
printf 'import unittest\n\nfrom calc import add\n\n\nclass CalcTest(unittest.TestCase):\n    def test_add(self):\n        self.assertEqual(add(2, 3), 5)\n' >"$P/test_calc.py"
cat >"$P/baton.toml" <<TOML
[orchestrator]
default_agent = "aider"
check_command = "python3 -m unittest -q"

[[agents]]
name = "aider"
kind = "cli"
command = ["$AIDER", "--model", "openai/qwen2.5-coder-0.5b", "--message", "{prompt}", "--yes-always",
           "--no-auto-commits", "--no-check-update", "--no-analytics", "--no-show-model-warnings",
           "--no-gitignore", "--no-pretty", "--no-stream", "calc.py", "test_calc.py"]
env = { OPENAI_API_BASE = "$URL/v1", OPENAI_API_KEY = "local", HOME = "$TMP" }
time_limit_ms = 600000
exclude = [".aider*"]
read_only_paths = ["$CACHE/aider"]   # the sandbox shows the system folders only
TOML
git -C "$P" init -q -b main && git -C "$P" add -A
git -C "$P" -c user.name=E2E -c user.email=e2e@baton.invalid commit -q -m init
start=$SECONDS
BATON_DATA_DIR="$TMP/data" BATON_CONFIG="$TMP/none.toml" "$REPO/target/debug/baton" task start \
    "Add a function multiply(a, b) to calc.py that returns a * b, and a test for it in test_calc.py." \
    --repo "$P" || true
echo "took $((SECONDS - start)) s"
BATON_DATA_DIR="$TMP/data" BATON_CONFIG="$TMP/none.toml" "$REPO/target/debug/baton" task show 1 | tail -n 40
wt="$(ls -d "$TMP"/data/worktrees/*/1-* 2>/dev/null | head -n1)"
[ -n "$wt" ] && git -C "$wt" show --format='commit %h %s' HEAD | head -n 60
