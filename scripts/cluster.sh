#!/usr/bin/env bash
# scripts/cluster.sh: a local cluster on one machine, without Docker: three NATS servers with JetStream (Debian's
# nats-server, installed with apt-get when missing) and three brokers in cluster mode (the Release build of
# src/Iot.Broker), each a background process with its log and data under one directory.
#
#   scripts/cluster.sh [start]    build the broker, start everything, print each node's MQTT and HTTP address
#   scripts/cluster.sh status     what runs
#   scripts/cluster.sh stop       stop every process this script started (SIGTERM, then SIGKILL after 15 s)
#   scripts/cluster.sh clean      stop, then delete the directory (all cluster data)
#
# Settings (environment variables):
#   IOT_CLUSTER_DIR        data, logs and pid files; default .cluster in the repository (ignored by git)
#   IOT_CLUSTER_NODES      how many brokers; default 3
#   IOT_CLUSTER_MQTT_PORT  MQTT port of the first broker (the next ones count up); default: free ports
#   IOT_CLUSTER_HTTP_PORT  HTTP port of the first broker (the next ones count up); default: free ports
#   IOT_CLUSTER_NATS_PORT  client port of the first NATS server (the next ones count up; routes use +100, monitoring
#                          +200); default: free ports
#   IOT_CLUSTER_ENVIRONMENT  the brokers' ASPNETCORE_ENVIRONMENT; default Development (anonymous clients allowed, as
#                          `dotnet run`: development only)
#   IOT_CLUSTER_BUILD=0    use the existing build instead of running `dotnet build -c Release src/Iot.Broker` first
#   IOT_CLUSTER_CONFIGURATION  the build configuration to build and run; default Release
#   IOT_CLUSTER_ARGS       extra arguments for every broker, e.g. "--Iot:Cluster:HeartbeatInterval=00:00:02"
# Data survives stop and start (same node ids and directories); `clean` deletes it.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR=${IOT_CLUSTER_DIR:-$ROOT/.cluster}
NODES=${IOT_CLUSTER_NODES:-3}
NATS_SERVERS=3
CONFIGURATION=${IOT_CLUSTER_CONFIGURATION:-Release}
DLL=$ROOT/src/Iot.Broker/bin/$CONFIGURATION/net10.0/Iot.Broker.dll

say() { echo "cluster.sh: $*" >&2; }
die() { say "$*"; exit 1; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

case "$NODES" in '' | *[!0-9]*) die "IOT_CLUSTER_NODES must be a number, not '$NODES'" ;; esac
[ "$NODES" -ge 1 ] || die "IOT_CLUSTER_NODES must be at least 1"

# A pid file's process, if it still runs and is what we started (a pid can be reused after a reboot).
running_pid() { # running_pid NAME PATTERN
  local file="$DIR/pids/$1.pid" pid
  [ -f "$file" ] || return 1
  pid=$(cat "$file")
  [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$2" || return 1
  echo "$pid"
}

# The processes of this directory: "NAME PATTERN" per pid file, brokers first (the order to stop them in).
started() {
  local file name
  for file in "$DIR"/pids/node-*.pid "$DIR"/pids/nats-*.pid; do
    [ -f "$file" ] || continue
    name=$(basename "$file" .pid)
    case "$name" in node-*) echo "$name Iot.Broker.dll" ;; *) echo "$name nats-server" ;; esac
  done
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A port nothing listens on, from a random place in 20000-32000 (the kernel's ephemeral range starts above).
free_port() {
  local p tries
  for ((tries = 0; tries < 200; tries++)); do
    p=$((20000 + RANDOM % 12000))
    case " ${TAKEN:-} " in *" $p "*) continue ;; esac
    port_in_use "$p" || { TAKEN="${TAKEN:-} $p"; echo "$p"; return 0; }
  done
  die "found no free port"
}

http_get() { # http_get PORT PATH: the response, over bash's /dev/tcp (no curl needed)
  (exec 3<>"/dev/tcp/127.0.0.1/$1" && printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3 && cat <&3)
}

find_nats() {
  command -v nats-server 2>/dev/null && return 0
  [ -x /usr/sbin/nats-server ] && { echo /usr/sbin/nats-server; return 0; }
  say "installing Debian's nats-server"
  DEBIAN_FRONTEND=noninteractive as_root apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
  DEBIAN_FRONTEND=noninteractive as_root apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends nats-server >&2
  [ -x /usr/sbin/nats-server ] && { echo /usr/sbin/nats-server; return 0; }
  die "nats-server is still missing after apt-get install nats-server"
}

wait_for() { # wait_for SECONDS COMMAND...: polls until COMMAND succeeds; fails after SECONDS
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

start() {
  mkdir -p "$DIR/pids" "$DIR/logs"
  local name pattern
  while read -r name pattern; do
    ! running_pid "$name" "$pattern" >/dev/null || die "$name already runs (pid $(cat "$DIR/pids/$name.pid")): scripts/cluster.sh stop first"
  done < <(started)

  local nats
  nats=$(find_nats)
  if [ "${IOT_CLUSTER_BUILD:-1}" != 0 ]; then
    say "building the broker (dotnet build -c $CONFIGURATION src/Iot.Broker; IOT_CLUSTER_BUILD=0 skips this)"
    dotnet build -c "$CONFIGURATION" "$ROOT/src/Iot.Broker/Iot.Broker.csproj" -nologo -v quiet >&2 || die "the build failed"
  fi
  [ -f "$DLL" ] || die "$DLL is missing: build it (dotnet build -c $CONFIGURATION src/Iot.Broker)"

  # NATS: client, route and monitoring ports; configured ones are checked, free ones picked.
  local i client=() route=() monitor=() routes="" urls=""
  for ((i = 0; i < NATS_SERVERS; i++)); do
    if [ -n "${IOT_CLUSTER_NATS_PORT:-}" ]; then
      client[i]=$((IOT_CLUSTER_NATS_PORT + i)); route[i]=$((client[i] + 100)); monitor[i]=$((client[i] + 200))
      for p in "${client[i]}" "${route[i]}" "${monitor[i]}"; do
        ! port_in_use "$p" || die "port $p (from IOT_CLUSTER_NATS_PORT=$IOT_CLUSTER_NATS_PORT) is in use: choose another"
      done
    else
      client[i]=$(free_port); route[i]=$(free_port); monitor[i]=$(free_port)
    fi
    routes="$routes${routes:+, }nats-route://127.0.0.1:${route[i]}"
    urls="$urls${urls:+,}nats://127.0.0.1:${client[i]}"
  done

  for ((i = 0; i < NATS_SERVERS; i++)); do
    mkdir -p "$DIR/nats-$i"
    cat >"$DIR/nats-$i/nats-server.conf" <<EOF
# Written by scripts/cluster.sh; rewritten at each start.
server_name: n$i
listen: 127.0.0.1:${client[i]}
http: 127.0.0.1:${monitor[i]}
# Big MQTT payloads and long topics.
max_payload: 8MB
max_control_line: 64KB
jetstream {
  store_dir: "$DIR/nats-$i/store"
}
cluster {
  name: iot-local
  listen: 127.0.0.1:${route[i]}
  routes: [$routes]
}
EOF
    setsid "$nats" -c "$DIR/nats-$i/nats-server.conf" >"$DIR/logs/nats-$i.log" 2>&1 </dev/null &
    echo $! >"$DIR/pids/nats-$i.pid"
  done

  for ((i = 0; i < NATS_SERVERS; i++)); do
    wait_for 60 meta_leader "${monitor[i]}" "nats-$i" \
      || die "nats-$i has no JetStream metadata leader after 60 s; see $DIR/logs/nats-$i.log (scripts/cluster.sh stop ends the others)"
  done
  say "NATS: $urls (JetStream ready)"

  local mqtt http portsfile
  for ((i = 0; i < NODES; i++)); do
    mqtt=$([ -n "${IOT_CLUSTER_MQTT_PORT:-}" ] && echo $((IOT_CLUSTER_MQTT_PORT + i)) || echo 0)
    http=$([ -n "${IOT_CLUSTER_HTTP_PORT:-}" ] && echo $((IOT_CLUSTER_HTTP_PORT + i)) || echo 0)
    portsfile="$DIR/node-$i/ports.json"
    mkdir -p "$DIR/node-$i"
    rm -f "$portsfile"
    # shellcheck disable=SC2086 # IOT_CLUSTER_ARGS is a list of arguments.
    # In the build's folder: its content root, where it reads appsettings.json.
    (
      cd "$(dirname "$DLL")"
      ASPNETCORE_ENVIRONMENT=${IOT_CLUSTER_ENVIRONMENT:-Development} ASPNETCORE_URLS='' \
        setsid dotnet "$DLL" "--Iot:Cluster:Nats:Url=$urls" "--Iot:Cluster:NodeId=node-$i" "--Iot:DataDir=$DIR/node-$i" \
        "--Iot:Mqtt:Port=$mqtt" "--Iot:Http:Port=$http" "--Iot:PortsFile=$portsfile" ${IOT_CLUSTER_ARGS:-} \
        >"$DIR/logs/node-$i.log" 2>&1 </dev/null &
      echo $! >"$DIR/pids/node-$i.pid"
    )
    # node-0 first: it creates the streams and buckets, and the others, started together after it, find them
    # (nats-server 2.9.10 answers one of two concurrent creates of a stream only after the request's time-out).
    if [ "$i" = 0 ]; then
      wait_for 120 node_started 0 \
        || die "node-0 did not start; see $DIR/logs/node-0.log (scripts/cluster.sh stop ends the others)"
    fi
  done

  for ((i = 0; i < NODES; i++)); do
    wait_for 120 node_started "$i" \
      || die "node-$i did not start; see $DIR/logs/node-$i.log (scripts/cluster.sh stop ends the others)"
  done
  status
  say "started; logs in $DIR/logs; stop with: scripts/cluster.sh stop"
}

meta_leader() { # meta_leader MONITOR_PORT NAME: the server runs and knows the JetStream metadata leader
  running_pid "$2" nats-server >/dev/null || die "$2 exited: $(tail -n 5 "$DIR/logs/$2.log")"
  http_get "$1" /jsz 2>/dev/null | grep -Eq '"leader": *"[^"]+"'
}

node_started() { # node_started I: the broker wrote its ports file (after connecting to NATS and binding its ports)
  running_pid "node-$1" Iot.Broker.dll >/dev/null || die "node-$1 exited: $(tail -n 5 "$DIR/logs/node-$1.log")"
  [ -s "$DIR/node-$1/ports.json" ]
}

json_port() { sed -n "s/.*\"$1\": *\([0-9]*\).*/\1/p" "$2"; }

status() {
  local name pattern pid file any=0
  while read -r name pattern; do
    pid=$(running_pid "$name" "$pattern") || continue
    any=1
    case "$name" in
      nats-*)
        file="$DIR/$name/nats-server.conf"
        echo "$name  nats://$(sed -n 's/^listen: //p' "$file")  monitor http://$(sed -n 's/^http: //p' "$file")/  pid $pid" ;;
      *)
        file="$DIR/$name/ports.json"
        if [ -s "$file" ]; then
          echo "$name  mqtt://127.0.0.1:$(json_port mqtt "$file")  http://127.0.0.1:$(json_port http "$file")/  pid $pid"
        else
          echo "$name  starting  pid $pid"
        fi ;;
    esac
  done < <(started | sort)
  [ "$any" = 1 ] || echo "nothing runs (from $DIR)"
}

stop() {
  [ -d "$DIR/pids" ] || { say "nothing to stop in $DIR"; return 0; }
  # Brokers first (they close their clients and flush), then NATS; each kind at once.
  local stopped=0
  stop_all node- Iot.Broker.dll
  stop_all nats- nats-server
  say "stopped $stopped processes"
}

stop_all() { # stop_all PREFIX PATTERN: SIGTERM to each, SIGKILL to those still there after 15 s
  local file name pid pids=() deadline
  for file in "$DIR/pids/$1"*.pid; do
    [ -f "$file" ] || continue
    name=$(basename "$file" .pid)
    if pid=$(running_pid "$name" "$2"); then
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid")
    fi
    rm -f "$file"
  done
  deadline=$((SECONDS + 15))
  for pid in "${pids[@]}"; do
    while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then
      say "pid $pid did not stop within 15 s of SIGTERM: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  stopped=$((stopped + ${#pids[@]}))
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  clean) stop; rm -rf "$DIR"; say "deleted $DIR" ;;
  *) die "usage: scripts/cluster.sh [start|status|stop|clean]" ;;
esac
