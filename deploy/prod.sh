#!/bin/sh
# make prod-up / prod-down: the production topology on this machine, from an env file.
#   WEB_WORKERS uvicorn processes on one port, WORKERS workers, SCHEDULERS schedulers, and (demo)
#   the province simulator, against the PostgreSQL and RabbitMQ named in the env file.
# Pid and log files: var/prod/. The same topology as units: deploy/systemd/, deploy/compose.yaml.
set -eu
cd "$(dirname "$0")/.."
ENV_FILE=${PROD_ENV:-deploy/production.env}
PY=${PYTHON:-.venv/bin/python}
RUN=var/prod
mkdir -p "$RUN"

start() {  # name, command...
  name=$1; shift
  if [ -f "$RUN/$name.pid" ] && kill -0 "$(cat "$RUN/$name.pid")" 2>/dev/null; then
    echo "  $name already running (pid $(cat "$RUN/$name.pid"))"; return; fi
  "$@" >>"$RUN/$name.log" 2>&1 &
  echo $! >"$RUN/$name.pid"
  echo "  $name: pid $! (log $RUN/$name.log)"
}

up() {
  set -a; . "./$ENV_FILE"; set +a
  if [ "${DEMO_SIMULATOR:-0}" = 1 ]; then
    sim=http://127.0.0.1:$SIM_PORT
    export PROVINCE_RECORDS_URL=$sim/hcp/addEvaluateService PROVINCE_RATINGS_URL=$sim/hcp/addEvaluate \
      PROVINCE_NORM_URL=$sim/hcp/norm PROVINCE_TICKET_RESULTS_URL=$sim/hcp/rectifyFeedback \
      PROVINCE_HOLDINGS_URL=$sim/hcp/dailyHoldings PROVINCE_APP_MARK=haochaping-pingyin \
      PROVINCE_APP_WORD=dev-app-word PROVINCE_DATA_SOURCE=999 \
      PROVINCE_PUBLIC_KEY=$($PY -c "import json; print(json.load(open('connectors/province_sim/demo_keys.json'))['public_key'])")
    start simulator $PY -m connectors.province_sim --host 127.0.0.1 --port "$SIM_PORT" \
      --db "$RUN/province_sim.sqlite3"
  fi
  # One metrics folder for every process here: /metrics on any web process then sums the web
  # processes' and the workers' counters and histograms (report durations come from workers).
  export PROMETHEUS_MULTIPROC_DIR="$PWD/$RUN/prometheus"
  rm -rf "$PROMETHEUS_MULTIPROC_DIR"; mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
  # Creates the database named in DATABASE_URL when missing; migrations and demo data are idempotent.
  $PY deploy/createdb.py
  $PY -m evaluation_service migrate
  [ "${DEMO_SIMULATOR:-0}" = 1 ] && $PY -m evaluation_service demo
  start web $PY -m evaluation_service serve --host "$HOST" --port "$PORT" --workers "$WEB_WORKERS"
  i=1; while [ "$i" -le "$WORKERS" ]; do start "worker-$i" $PY -m evaluation_service worker; i=$((i+1)); done
  i=1; while [ "$i" -le "$SCHEDULERS" ]; do start "scheduler-$i" $PY -m evaluation_service scheduler; i=$((i+1)); done
  n=0; until curl -fsS "http://$HOST:$PORT/health" >/dev/null 2>&1; do
    n=$((n+1)); [ "$n" -gt 100 ] && { echo "web did not answer /health: see $RUN/web.log"; exit 1; }; sleep 0.2; done
  echo "up: http://$HOST:$PORT  (/health, /metrics)"
}

down() {
  for pidfile in "$RUN"/*.pid; do
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid"
      n=0; while kill -0 "$pid" 2>/dev/null && [ "$n" -lt 100 ]; do sleep 0.2; n=$((n+1)); done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
      echo "  stopped $(basename "$pidfile" .pid) (pid $pid)"
    fi
    rm -f "$pidfile"
  done
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down"; exit 2 ;;
esac
