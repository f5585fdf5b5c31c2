#!/usr/bin/env bash
# Builds the release server with profile-guided optimization (PGO): an instrumented build types
# lines of real code through the real binary against the scripted model
# (tests/bench/perf/pgo_train.py: the Python standard library's files and this repository's Rust
# and TypeScript, not the benchmark's), and the final build is optimized with the counts it
# recorded: which branches are taken, which functions are hot, and so how the code is laid out.
# Only the Rust code: tree-sitter's C compiled with GCC's profile crashed in its error recovery
# (RESULTS.md).
# A request's own time is spread thinly over many layers (the transport, serde_json, the
# conductor, hyper), each run cold between keystrokes, which is what PGO helps with: the module's
# overhead p50 0.71 -> 0.57 ms, its p99 (the median of eight runs) 1.05 -> 0.87, memory with 100
# open files 14.4 -> 11.7 MiB (tests/bench/perf/RESULTS.md, "Profile-guided").
#
#   scripts/build-release.sh [--no-pgo] [--install]
#
# Options:
#   --no-pgo    a plain `cargo build --release` (what `cargo install --path .` builds)
#   --install   copy the binary to ${CARGO_HOME:-~/.cargo}/bin/baton
#
# Prints the binary's path on stdout (the last line). With PGO it is
# $CARGO_TARGET_DIR/pgo/release/baton (target/ by default); the instrumented build goes to
# target/pgo-generate and the profile to target/pgo-profile. Needs cargo, python3, and the
# llvm-profdata of the Rust toolchain (the rustup component llvm-tools, added here when
# missing). ~11 minutes on two cores from a cold target directory: two full builds, each with
# fat LTO, and ~25 s of training.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$REPO/target}"
mkdir -p "$TARGET"
# Absolute: the builds run from the repository, and rustc writes the profile where it is told.
TARGET="$(cd "$TARGET" && pwd)"

log() { printf '[build-release] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

PGO=1
INSTALL=0
while [ $# -gt 0 ]; do
    case "$1" in
        --no-pgo) PGO=0; shift ;;
        --install) INSTALL=1; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done
command -v cargo >/dev/null || die "cargo is needed (https://rustup.rs)"

if [ "$PGO" = 0 ]; then
    log "building baton (cargo build --release)"
    (cd "$REPO" && cargo build --release --locked --bin baton >&2)
    BIN="$TARGET/release/baton"
else
    command -v python3 >/dev/null || die "python3 is needed for the training run (or use --no-pgo)"
    host="$(rustc -vV | sed -n 's/^host: //p')"
    profdata="$(rustc --print sysroot)/lib/rustlib/$host/bin/llvm-profdata"
    if [ ! -x "$profdata" ]; then
        command -v rustup >/dev/null \
            || die "no llvm-profdata at $profdata and no rustup to add it (or use --no-pgo)"
        log "adding the rustup component llvm-tools (llvm-profdata)"
        rustup component add llvm-tools >&2
        [ -x "$profdata" ] || die "rustup added llvm-tools but there is no $profdata"
    fi
    PROFILE="$TARGET/pgo-profile"
    # The user's RUSTFLAGS are kept; the two builds each get their own target directory, as their
    # flags differ (a shared one would rebuild everything each time).
    log "building the instrumented server (target/pgo-generate)"
    (cd "$REPO" && CARGO_TARGET_DIR="$TARGET/pgo-generate" \
        RUSTFLAGS="${RUSTFLAGS:-} -Cprofile-generate=$PROFILE/raw" \
        cargo build --release --locked --bin baton >&2)
    # Only this training's counts: not an earlier run's, not the build scripts' (which ran
    # instrumented too).
    rm -rf "$PROFILE/raw" "$PROFILE"/*.profdata
    mkdir -p "$PROFILE/raw"
    log "training: typing real code through the instrumented server"
    python3 "$REPO/tests/bench/perf/pgo_train.py" --baton "$TARGET/pgo-generate/release/baton" >&2 \
        || die "the training run failed (its output is above)"
    compgen -G "$PROFILE/raw/*.profraw" >/dev/null || die "the training run wrote no profile to $PROFILE/raw"
    "$profdata" merge -o "$PROFILE/baton.profdata" "$PROFILE/raw"
    # From scratch: cargo does not see a new profile as a change, so a kept build would keep the
    # last one's optimization.
    rm -rf "$TARGET/pgo"
    log "building the optimized server (target/pgo)"
    (cd "$REPO" && CARGO_TARGET_DIR="$TARGET/pgo" \
        RUSTFLAGS="${RUSTFLAGS:-} -Cprofile-use=$PROFILE/baton.profdata" \
        cargo build --release --locked --bin baton >&2)
    BIN="$TARGET/pgo/release/baton"
fi
[ -x "$BIN" ] || die "no binary at $BIN"
if [ "$INSTALL" = 1 ]; then
    dest="${CARGO_HOME:-$HOME/.cargo}/bin"
    mkdir -p "$dest"
    # A copy next to it, then a rename: a running server keeps its old executable intact.
    cp "$BIN" "$dest/.baton.new" && mv -f "$dest/.baton.new" "$dest/baton"
    log "installed $dest/baton"
fi
echo "$BIN"
