#!/usr/bin/env bash
# Notifications on the local stack, when asked (`FLEETCAP_STACK_ALERTING=1 bash stack/stack.sh up`): Debian's
# Prometheus scrapes the apps `fleetcap run` starts (their local ports) and evaluates stack/monitoring/alerts.yml;
# Debian's prometheus-alertmanager routes what fires to FLEETCAP_ALERT_WEBHOOK_URL. `stack.sh down` stops both.
#   bash stack/alerting.sh up | down
# FLEETCAP_ALERTING_FRESH=1 starts both with no stored state: Alertmanager's notification log would otherwise keep
# an alert group notified by an earlier run quiet for its repeat interval (4 h), and a test would wait in vain.
set -euo pipefail

STACK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=stack/env.sh
source "$STACK_DIR/env.sh"
: "${FLEETCAP_PROMETHEUS_PORT:=9090}"
# 9093 is Kafka's controller port here, 9094 Alertmanager's default cluster port: gossip is off (one instance).
: "${FLEETCAP_ALERTMANAGER_PORT:=9094}"
: "${FLEETCAP_ALERT_WEBHOOK_URL:=http://127.0.0.1:9099/alerts}"
STATE="$FLEETCAP_STACK_HOME/alerting"
LOGS="$FLEETCAP_STACK_HOME/logs"
RUN="$FLEETCAP_STACK_HOME/run"

say() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*"; }
die() { printf 'stack: %s\n' "$*" >&2; exit 1; }

alive() { [[ -f "$RUN/$1.pid" ]] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }

start() {
  local name="$1"; shift
  if alive "$name"; then return; fi
  say "starting $name (log: $LOGS/$name.log)"
  setsid "$@" >>"$LOGS/$name.log" 2>&1 </dev/null &
  echo $! >"$RUN/$name.pid"
}

wait_ready() {
  local name="$1" url="$2"
  for _ in $(seq 1 60); do
    curl -fsS -o /dev/null "$url/-/ready" 2>/dev/null && return
    alive "$name" || break
    sleep 0.5
  done
  tail -n 20 "$LOGS/$name.log" >&2 || true
  die "$name did not become ready at $url: read $LOGS/$name.log"
}

install_missing() {
  command -v prometheus >/dev/null && command -v prometheus-alertmanager >/dev/null && return
  [[ $EUID -eq 0 ]] ||
    die "alerting needs Debian's prometheus and prometheus-alertmanager: sudo apt-get install prometheus prometheus-alertmanager"
  say "installing prometheus and prometheus-alertmanager (Debian)"
  # As in install.sh: the packages' daemons are neither started now (policy-rc.d) nor at boot; this script runs them.
  local created_policy=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    created_policy=1
  fi
  apt-get install -y -qq --no-install-recommends prometheus prometheus-alertmanager >/dev/null
  if [[ $created_policy -eq 1 ]]; then rm -f /usr/sbin/policy-rc.d; fi
  if [[ -d /run/systemd/system ]]; then
    systemctl disable --now prometheus prometheus-alertmanager >/dev/null 2>&1 || true
  fi
}

cmd_up() {
  install_missing
  if [[ ${FLEETCAP_ALERTING_FRESH:-0} == 1 ]]; then
    alive prometheus || alive alertmanager && die "stop the running pair first (bash stack/alerting.sh down)"
    rm -rf "$STATE/prometheus-data" "$STATE/alertmanager-data"
  fi
  mkdir -p "$STATE" "$LOGS" "$RUN"
  cat >"$STATE/alertmanager.yml" <<YAML
route:
  receiver: webhook
  group_by: [alertname, detector]
  group_wait: 10s
  group_interval: 1m
  repeat_interval: 4h
receivers:
  - name: webhook
    webhook_configs:
      - url: ${FLEETCAP_ALERT_WEBHOOK_URL}
        send_resolved: true
YAML
  # The apps' local ports (cli/src/local-apps.ts defaults).
  cat >"$STATE/prometheus.yml" <<YAML
global: { scrape_interval: 15s, evaluation_interval: 15s }
rule_files: ["$STACK_DIR/monitoring/alerts.yml"]
alerting:
  alertmanagers: [{ static_configs: [{ targets: ["127.0.0.1:${FLEETCAP_ALERTMANAGER_PORT}"] }] }]
scrape_configs:
  # splitcap serves HTTPS only (its certificate from the stack's CA).
  - job_name: splitcap
    scheme: https
    tls_config: { ca_file: "$FLEETCAP_STACK_HOME/tls/ca.crt" }
    static_configs: [{ targets: ["127.0.0.1:8080"] }]
  - { job_name: forecast, static_configs: [{ targets: ["127.0.0.1:8090"] }] }
  - { job_name: session-worker, static_configs: [{ targets: ["127.0.0.1:8091", "127.0.0.1:8092"] }] }
  - { job_name: config-sync, static_configs: [{ targets: ["127.0.0.1:8086"] }] }
  - { job_name: detector, static_configs: [{ targets: ["127.0.0.1:8093"] }] }
  - { job_name: listener, static_configs: [{ targets: ["127.0.0.1:8095"] }] }
  - { job_name: refusal-exporter, static_configs: [{ targets: ["127.0.0.1:${FLEETCAP_REFUSAL_EXPORTER_PORT}"] }] }
YAML
  start alertmanager prometheus-alertmanager --config.file="$STATE/alertmanager.yml" \
    --storage.path="$STATE/alertmanager-data" --web.listen-address="127.0.0.1:${FLEETCAP_ALERTMANAGER_PORT}" \
    --cluster.listen-address=
  start prometheus prometheus --config.file="$STATE/prometheus.yml" --storage.tsdb.path="$STATE/prometheus-data" \
    --web.listen-address="127.0.0.1:${FLEETCAP_PROMETHEUS_PORT}"
  wait_ready alertmanager "http://127.0.0.1:${FLEETCAP_ALERTMANAGER_PORT}"
  wait_ready prometheus "http://127.0.0.1:${FLEETCAP_PROMETHEUS_PORT}"
  say "alerting: Prometheus http://127.0.0.1:${FLEETCAP_PROMETHEUS_PORT}, Alertmanager http://127.0.0.1:${FLEETCAP_ALERTMANAGER_PORT} -> ${FLEETCAP_ALERT_WEBHOOK_URL}"
}

cmd_down() {
  for name in prometheus alertmanager; do
    alive "$name" || { rm -f "$RUN/$name.pid"; continue; }
    local pid
    pid="$(cat "$RUN/$name.pid")"
    say "stopping $name (pid $pid)"
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    rm -f "$RUN/$name.pid"
  done
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  *) die "usage: bash stack/alerting.sh up|down" ;;
esac
