# Sourced by the bench scripts (from the repository root): builds the release binaries once,
# names them, and gives a free loopback port. Honours CARGO_TARGET_DIR. With SHARDHUB_BIN and
# SHARDHUB_BENCH_BIN both set it builds nothing and runs those (another commit's build, to
# compare two in the same conditions).
if [[ -n ${SHARDHUB_BIN:-} && -n ${SHARDHUB_BENCH_BIN:-} ]]; then
  B=$SHARDHUB_BENCH_BIN
  SHARDHUB=$SHARDHUB_BIN
else
  target_dir=${CARGO_TARGET_DIR:-target}
  cargo build --release -q -p shardhub -p shardhub-bench
  B=$target_dir/release/shardhub-bench
  SHARDHUB=$target_dir/release/shardhub
fi

# Until the server on port $1 answers PING, failing early if process $2 died. Callers set
# $out (where the server's log is) before calling it.
wait_ping() { # port pid
  for _ in $(seq 100); do
    [ "$(redis-cli -p "$1" PING 2>/dev/null)" = PONG ] && return 0
    kill -0 "$2" 2>/dev/null || { echo "server on port $1 exited; see $out"; exit 1; }
    sleep 0.1
  done
  echo "server on port $1 does not answer PING"; exit 1
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Stops every process whose pid is in the caller's $pids (resumed first, in case a test
# stopped it) and waits for them: the body of the bench scripts' exit traps.
stop_pids() {
  for p in "${pids[@]}"; do
    kill -CONT "$p" 2>/dev/null || true
    kill "$p" 2>/dev/null || true
  done
  wait 2>/dev/null || true
}
