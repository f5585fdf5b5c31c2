#!/usr/bin/env bash
# Records the wire traffic of the two Neovim NES clients' flows (copilot-lsp, sidekick.nvim) with
# real Neovim 0.11 against tests/nes/stub_server.py, into tests/nes/fixtures/raw/*.jsonl. The
# fixtures in tests/nes/fixtures/*.json were made from these recordings (see PROTOCOL.md).
#
# Usage: tests/nes/capture/capture_nvim.sh [NVIM]   (NVIM defaults to `nvim` on PATH; 0.11+)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
nes=$(dirname "$here")
nvim=${1:-nvim}
"$nvim" --version | head -1 | grep -Eq 'NVIM v0\.(1[1-9]|[2-9][0-9])' || { echo "need Neovim 0.11+: $nvim" >&2; exit 2; }

# A fixed path, so the recorded URIs are the same on every machine.
dir=/tmp/baton-nes-fixture
rm -rf "$dir" && mkdir -p "$dir/src" "$nes/fixtures/raw"
cat >"$dir/src/calc.py" <<'EOF'
# Prix unitaire en €
def échelle(count, factor):
    return count * factor
EOF
cp "$dir/src/calc.py" "$dir/calc.orig.py"

run() { # flow, announced position encoding or "", output name
    local flow=$1 enc=$2 out=$nes/fixtures/raw/$3.jsonl
    rm -f "$out"
    cp "$dir/calc.orig.py" "$dir/src/calc.py"
    local stub=(python3 "$nes/stub_server.py" --mode rename --record "$out")
    [ -n "$enc" ] && stub+=(--position-encoding "$enc")
    NES_FLOW=$flow NES_FILE=$dir/src/calc.py \
        NES_STUB=$(python3 -c 'import json,sys; print(json.dumps(sys.argv[1:]))' "${stub[@]}") \
        timeout 60 "$nvim" --headless --clean -u "$here/nvim_capture.lua" </dev/null
    echo "recorded $(wc -l <"$out") messages -> $out" >&2
}
run copilot-lsp "" nvim-copilot-lsp
run sidekick "" nvim-sidekick
# What changes when the server picks UTF-8 from Neovim's offer (as Baton's negotiation does):
run copilot-lsp utf-8 nvim-copilot-lsp-utf8-server
run sidekick utf-8 nvim-sidekick-utf8-server
