#!/usr/bin/env bash
# Installs what the stack and the tests need, and only what is missing, so a second run takes seconds:
# Debian packages, the npm workspace, and the Kafka / Kafka Connect / Debezium jars from Maven Central.
set -euo pipefail
STACK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(dirname "$STACK_DIR")"
# shellcheck source=stack/env.sh
source "$STACK_DIR/env.sh"

say() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*"; }

APT_PACKAGES=(
  redis-server redis-tools rabbitmq-server mariadb-server mariadb-client zookeeper libslf4j-java
  default-jre-headless maven nodejs npm
  default-jdk-headless  # javac: stack.sh compiles ZooKeeper's refusal log (stack/zookeeper/AclRefusalLog.java)
  libpcap-dev tcpdump tshark iproute2 procps netcat-openbsd curl ca-certificates openssl docker-compose socat util-linux
  prometheus  # for promtool: the tests validate stack/monitoring/ with it; its daemon is not started (below)
  libndpi-bin  # ndpiReader: bench/sessionize's peer for offline sessionizing
  tcpreplay  # bench/capture --generator tcpreplay: the former generator
  netsniff-ng  # trafgen: bench/capture's generator (PACKET_MMAP, faster than the captures it measures)
  hping3  # bench/capture-to-verdict's generator (one SYN per session, paced)
  prometheus-alertmanager  # the alerting test routes a detection through a real Alertmanager; no daemon started
  chromium  # the console's browser tests drive it through puppeteer-core (nothing downloads a browser)
  haproxy  # the cluster stack's balancer before two splitcaps (stack/splitcap-balancer.sh); no daemon started
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  # nodejs/npm/maven/java/promtool may come from elsewhere on this machine; a working command is enough.
  case "$p" in
    nodejs) command -v node >/dev/null && continue ;;
    npm) command -v npm >/dev/null && continue ;;
    maven) command -v mvn >/dev/null && continue ;;
    default-jre-headless) command -v java >/dev/null && continue ;;
    default-jdk-headless) command -v javac >/dev/null && continue ;;
    prometheus) command -v promtool >/dev/null && command -v prometheus >/dev/null && continue ;;
  esac
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Debian's maintainer scripts would start the servers as system services; the stack runs its own.
  # (A policy the machine already has is left as it is.)
  created_policy=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    created_policy=1
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [[ $created_policy -eq 1 ]]; then rm -f /usr/sbin/policy-rc.d; fi
  # The prometheus package also enables its daemon for the next boot; only promtool is wanted.
  if [[ " ${missing[*]} " == *" prometheus"* && -d /run/systemd/system ]]; then
    systemctl disable --now prometheus prometheus-alertmanager >/dev/null 2>&1 || true
  fi
fi

# The traffic lab's clients, servers and attack tools (the e2e tests drive it): installed here, not by the first
# test that builds the lab, whose time budget an apt-get on a new machine would eat.
if [[ $(id -u) -eq 0 ]]; then
  bash "$REPO_DIR/lab/setup.sh" packages
else
  say "not root: the traffic lab's packages are not checked (lab/setup.sh installs them as root)"
fi

if [[ ! -d "$REPO_DIR/node_modules" || "$REPO_DIR/package-lock.json" -nt "$REPO_DIR/node_modules/.package-lock.json" ]]; then
  say "installing npm packages"
  # onnxruntime-node would fetch optional GPU binaries at install; forecast runs on the CPU build it ships.
  (cd "$REPO_DIR" && ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund --loglevel=error)
fi

# The jar folders are rebuilt only when the pom changes.
jvm_dir="$FLEETCAP_STACK_HOME/jvm"
stamp="$(sha256sum "$STACK_DIR/jvm/pom.xml" | cut -c1-16)"
if [[ "$(cat "$jvm_dir/.stamp" 2>/dev/null)" != "$stamp" ]]; then
  say "fetching Kafka, Kafka Connect and Debezium jars with Maven"
  rm -rf "$jvm_dir" && mkdir -p "$jvm_dir"
  for profile in kafka connect; do
    mvn -q -B -f "$STACK_DIR/jvm/pom.xml" -P"$profile" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$jvm_dir/$profile"
  done
  echo "$stamp" >"$jvm_dir/.stamp"
fi

# The Community ID conformance test checks ours against the reference implementation (PyPI communityid).
if command -v python3 >/dev/null && ! python3 -c 'import communityid' 2>/dev/null; then
  say "installing the Python package communityid"
  python3 -m pip install --quiet communityid
fi
