#!/usr/bin/env bash
# Runs slowhttptest's slowloris (-H), slow body (-B) and slow read (-X) attacks against rawserve
# on loopback while a probe client GETs the page every 200 ms, and prints, per attack,
# slowhttptest's verdict, the probe's successes and latencies, and the server's peak fd count.
# Needs: apt-get install -y slowhttptest curl. Bounded: each attack runs for at most 30 s.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v slowhttptest >/dev/null || { echo "Install the tool: apt-get install -y slowhttptest"; exit 1; }

work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
head -c $((1024 * 1024)) /dev/urandom >"$work/big.bin"
echo "<h1>ok</h1>" >"$work/index.html"
deno run --allow-ffi --allow-read --allow-write --allow-env --allow-run main.ts \
  --port 0 --quiet --root "$work" "$@" >"$work/server.out" 2>&1 &
server=$!
for _ in $(seq 100); do grep -q 'http://' "$work/server.out" && break; sleep 0.1; done
url=$(grep -o 'http://[^ ]*' "$work/server.out" | head -1)
echo "rawserve $url (flags: ${*:-defaults}), pid $server"

probe() { # GET / every 200 ms until the file $1 exists; prints successes and latencies
  local ok=0 fail=0 times=()
  while [ ! -e "$1" ]; do
    if t=$(curl -s -o /dev/null -m 2 -w '%{time_total}' "$url"); then ok=$((ok + 1)); times+=("$t"); else fail=$((fail + 1)); fi
    sleep 0.2
  done
  sorted=$(printf '%s\n' "${times[@]:-0}" | sort -n)
  n=$(wc -l <<<"$sorted")
  p50=$(sed -n "$(((n + 1) / 2))p" <<<"$sorted")
  p99=$(sed -n "$(((n * 99 + 99) / 100))p" <<<"$sorted")
  echo "probe: $ok ok, $fail failed; latency p50 ${p50}s, p99 ${p99}s"
}

attack() { # name, slowhttptest arguments...
  local name=$1
  shift
  rm -f "$work/stop"
  probe "$work/stop" >"$work/probe.txt" &
  local prober=$! peak=0
  (while [ ! -e "$work/stop" ]; do ls /proc/"$server"/fd | wc -l; sleep 0.5; done) >"$work/fds.txt" &
  local watcher=$!
  slowhttptest "$@" -l 30 -o "$work/$name" >"$work/$name.log" 2>&1 || true
  touch "$work/stop"
  wait "$prober" "$watcher" || true
  peak=$(sort -n "$work/fds.txt" | tail -1)
  echo "## $name: slowhttptest $*"
  grep -E 'service available|Exit status|closed|pending|connected' "$work/$name.log" | tail -5 | sed 's/^/  /'
  echo "  $(cat "$work/probe.txt"); server peak fds: $peak; server alive: $(kill -0 "$server" && echo yes)"
}

attack slowloris -H -c 500 -r 200 -i 10 -s 8192 -t GET -u "$url"
attack slow-body -B -c 500 -r 200 -i 10 -s 8192 -t POST -u "$url"
attack slow-read -X -c 500 -r 200 -w 512 -y 1024 -n 5 -z 32 -k 3 -u "${url}big.bin"
