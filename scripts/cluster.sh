#!/usr/bin/env bash
# The distributed mode on one machine, all on loopback (`make cluster`): nats-server with JetStream
# (file store), an embedded PostgreSQL with pgvector, the demo cameras in the registry, two
# perception workers, the identity memory service and the web page. Ctrl-C stops everything, each
# part by its PID, in reverse order of start.
#
# Environment (all optional):
#   REIDCAM          the reidcam command (default .venv/bin/reidcam, else reidcam on PATH)
#   PYTHON           the Python of that install (default: next to REIDCAM)
#   CLUSTER_DATA     broker store, database, logs (default ./cluster-data; kept between runs)
#   NATS_PORT        broker client port (default 4222); NATS_MONITOR_PORT (default 8222)
#   WEB_PORT         the page (default 8000)
#   CLUSTER_NO_WEB=1 everything but the page (smoke tests; `reidcam serve --broker` elsewhere)
#   CLUSTER_CAMERAS  "ID=SOURCE ID=SOURCE..." instead of the Market-1501 demo frames
#   WORKER_ARGS      extra arguments of both workers (e.g. "--fps 2" on a busy machine)
set -euo pipefail

REIDCAM=${REIDCAM:-$( [ -x .venv/bin/reidcam ] && echo .venv/bin/reidcam || command -v reidcam || true )}
[ -n "$REIDCAM" ] || { echo "cluster: no reidcam command (make install, or set REIDCAM)" >&2; exit 2; }
PYTHON=${PYTHON:-$(dirname "$REIDCAM")/python}
NATS_SERVER=${NATS_SERVER:-$(command -v nats-server || echo /usr/sbin/nats-server)}
[ -x "$NATS_SERVER" ] || { echo "cluster: nats-server is not installed (Debian: apt-get install nats-server)" >&2; exit 2; }
DATA=${CLUSTER_DATA:-./cluster-data}
NATS_PORT=${NATS_PORT:-4222}
NATS_MONITOR_PORT=${NATS_MONITOR_PORT:-8222}
WEB_PORT=${WEB_PORT:-8000}
MEDIA=${REIDCAM_MEDIA_DIR:-../shared/assets/media}/market1501_2cam
CAMERAS=${CLUSTER_CAMERAS:-"c1=$MEDIA/frames/c1s1_*.jpg c3=$MEDIA/frames/c3s1_*.jpg"}
BROKER=nats://127.0.0.1:$NATS_PORT
HERE=$(cd "$(dirname "$0")" && pwd)

mkdir -p "$DATA/logs"
DATA=$(cd "$DATA" && pwd)
PIDS=()  # started parts, in order; stopped in reverse

STOPPED=0
stop_all() {
  trap - INT TERM EXIT
  [ "$STOPPED" = 0 ] || return 0
  STOPPED=1
  echo "cluster: stopping" >&2
  local i
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    kill -TERM "${PIDS[i]}" 2>/dev/null || true
    # a clean stop: workers flush their sightings, the memory service finishes its batch
    for _ in $(seq 1 100); do kill -0 "${PIDS[i]}" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "${PIDS[i]}" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  echo "cluster: stopped (logs in $DATA/logs)" >&2
}
trap stop_all INT TERM EXIT

start() {  # start NAME COMMAND...: in the background, output to $DATA/logs/NAME.log
  local name=$1; shift
  "$@" >>"$DATA/logs/$name.log" 2>&1 &
  PIDS+=($!)
  echo "cluster: $name (pid $!): $DATA/logs/$name.log" >&2
}

wait_until() {  # wait_until WHAT SECONDS COMMAND...
  local what=$1 secs=$2; shift 2
  for _ in $(seq 1 $((secs * 5))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  echo "cluster: $what not ready within $secs s (see $DATA/logs)" >&2
  exit 1
}

start nats-server "$NATS_SERVER" -js -a 127.0.0.1 -p "$NATS_PORT" -m "$NATS_MONITOR_PORT" -sd "$DATA/nats"
wait_until "nats-server" 15 "$PYTHON" -c "import socket; socket.create_connection(('127.0.0.1', $NATS_PORT), 1)"

rm -f "$DATA/postgres.uri"
start postgres "$PYTHON" "$HERE/cluster_postgres.py" "$DATA/postgres" "$DATA/postgres.uri"
wait_until "PostgreSQL" 120 test -s "$DATA/postgres.uri"
STORAGE_URL=$(sed 's#^postgresql://#postgresql+psycopg://#' "$DATA/postgres.uri")

for cam in $CAMERAS; do
  "$REIDCAM" cameras --broker "$BROKER" add "${cam%%=*}" "${cam#*=}" >/dev/null
done
"$REIDCAM" cameras --broker "$BROKER" list >&2

# The two workers share the cameras evenly (each takes at most half, rounded up).
n_cams=$(wc -w <<<"$CAMERAS")
PER_WORKER=$(( (n_cams + 1) / 2 ))
start memory "$REIDCAM" memory --broker "$BROKER" --storage-url "$STORAGE_URL" --data-dir "$DATA/memory" --name memory-1
# shellcheck disable=SC2086  # WORKER_ARGS is a list of arguments
start worker-1 "$REIDCAM" worker --broker "$BROKER" --name worker-1 --max-cameras $PER_WORKER ${WORKER_ARGS:-}
# shellcheck disable=SC2086
start worker-2 "$REIDCAM" worker --broker "$BROKER" --name worker-2 --max-cameras $PER_WORKER ${WORKER_ARGS:-}

if [ "${CLUSTER_NO_WEB:-0}" != 1 ]; then
  start serve "$REIDCAM" serve --broker "$BROKER" --storage-url "$STORAGE_URL" --data-dir "$DATA/web" --port "$WEB_PORT"
  echo "cluster: open http://127.0.0.1:$WEB_PORT (broker $BROKER, monitoring http://127.0.0.1:$NATS_MONITOR_PORT)" >&2
else
  echo "cluster: no web page (CLUSTER_NO_WEB=1); broker $BROKER, monitoring http://127.0.0.1:$NATS_MONITOR_PORT" >&2
fi
echo "cluster: running; Ctrl-C stops everything" >&2
# Until Ctrl-C, or a part exits on its own: then everything stops (its log says why).
wait -n -p EXITED "${PIDS[@]}" || true
[ "$STOPPED" = 1 ] || echo "cluster: pid ${EXITED:-?} exited on its own" >&2
stop_all
