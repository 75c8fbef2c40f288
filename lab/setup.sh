#!/usr/bin/env bash
# Builds the lab: installs tools, makes assets (cert, keys, web files), creates the namespaces,
# bridge and veths, and starts the server's services. Safe to run again: it rebuilds the network
# from scratch and skips installs and assets that are already there. `setup.sh packages` installs the tools only.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=services.sh
source "$LAB_DIR/services.sh"

PACKAGES=(nginx-light openssh-server openssh-client dnsmasq-base curl wget nmap hping3 hydra
  slowhttptest sqlmap tcpdump openssl sshpass iproute2 bind9-dnsutils python3 procps bc ethtool nftables
  vsftpd lftp dovecot-imapd dovecot-pop3d python3-aiosmtpd swaks libnet-ssleay-perl mariadb-server mariadb-client
  postgresql-15 postgresql-client-15 redis-server redis-tools mosquitto mosquitto-clients
  python3-websockets ntpsec-ntpdig util-linux)

install_packages() {
  local missing=() p
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]} == 0)); then
    log "all ${#PACKAGES[@]} packages already installed"
    return
  fi
  log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # The Debian packages would start nginx/sshd in the root namespace; a policy-rc.d that
  # refuses service starts keeps every daemon inside the lab. Only remove the one we add.
  local added_policy=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    added_policy=1
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  ((added_policy)) && rm -f /usr/sbin/policy-rc.d
  return 0
}

make_assets() {
  mkdir -p "$ASSETS" "$RUNSTATE"
  chmod 755 "$OUT_DIR" "$ASSETS"
  if [[ ! -s $ASSETS/tls.crt ]]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj "/CN=www.$LAB_DOMAIN" \
      -addext "subjectAltName=DNS:*.$LAB_DOMAIN,DNS:$LAB_DOMAIN,IP:${SERVER_ADDRS[0]}" \
      -keyout "$ASSETS/tls.key" -out "$ASSETS/tls.crt" 2>/dev/null
  fi
  if [[ ! -s $ASSETS/ssh_host_ed25519_key ]]; then
    ssh-keygen -q -t ed25519 -N '' -f "$ASSETS/ssh_host_ed25519_key"
    ssh-keygen -q -t rsa -b 2048 -N '' -f "$ASSETS/ssh_host_rsa_key"
  fi
  if [[ ! -s $ASSETS/client_key ]]; then
    ssh-keygen -q -t ed25519 -N '' -f "$ASSETS/client_key"
  fi
  make_www
  make_user
  make_service_assets
}

# A small site with pages that link to each other and to files of several sizes, so that
# browsing (wget -r, curl of several objects) and downloads look like browsing and downloads.
make_www() {
  local www=$ASSETS/www
  [[ -s $www/.done ]] && return
  mkdir -p "$www/files" "$www/static" "$www/docs"
  local sz i
  for sz in 1 4 16 64 256 1024 4096; do
    head -c $((sz * 1024)) /dev/urandom >"$www/files/blob-${sz}k.bin"
  done
  for i in $(seq 1 12); do
    head -c $((2000 + i * 900)) /dev/urandom | base64 >"$www/static/asset$i.js"
    head -c $((800 + i * 300)) /dev/urandom | base64 >"$www/static/style$i.css"
    head -c $((5000 + i * 4000)) /dev/urandom >"$www/static/img$i.png"
  done
  for i in $(seq 1 20); do
    {
      printf '<!doctype html><html><head><title>Doc %d</title>' "$i"
      printf '<link rel="stylesheet" href="/static/style%d.css">' $((i % 12 + 1))
      printf '<script src="/static/asset%d.js"></script></head><body>' $(((i * 5) % 12 + 1))
      printf '<h1>Document %d</h1><img src="/static/img%d.png">' "$i" $(((i * 7) % 12 + 1))
      head -c $((1500 * i)) /dev/urandom | base64 | sed 's/^/<p>/;s/$/<\/p>/'
      printf '<a href="/docs/page%d.html">next</a> <a href="/files/blob-64k.bin">data</a>' $((i % 20 + 1))
      printf '</body></html>\n'
    } >"$www/docs/page$i.html"
  done
  {
    printf '<!doctype html><html><head><title>fleetcap lab</title>'
    printf '<link rel="stylesheet" href="/static/style1.css"></head><body><h1>Lab</h1><ul>'
    for i in $(seq 1 20); do printf '<li><a href="/docs/page%d.html">page %d</a></li>' "$i" "$i"; done
    for sz in 1 4 16 64 256 1024 4096; do printf '<li><a href="/files/blob-%dk.bin">%dk</a></li>' "$sz" "$sz"; done
    printf '</ul><a href="/app/login">login</a></body></html>\n'
  } >"$www/index.html"
  printf '{"status":"ok","items":[1,2,3]}\n' >"$www/api.json"
  date >"$www/.done"
}

make_user() {
  if ! id "$LAB_USER" >/dev/null 2>&1; then
    useradd -m -s /bin/bash "$LAB_USER"
  fi
  echo "$LAB_USER:$LAB_PASS" | chpasswd
  local home
  home=$(getent passwd "$LAB_USER" | cut -d: -f6)
  install -d -m 700 -o "$LAB_USER" -g "$LAB_USER" "$home/.ssh"
  install -m 600 -o "$LAB_USER" -g "$LAB_USER" "$ASSETS/client_key.pub" "$home/.ssh/authorized_keys"
  if [[ ! -s $home/notes.txt ]]; then
    head -c 300000 /dev/urandom | base64 >"$home/notes.txt"
    head -c 2000000 /dev/urandom >"$home/backup.tar"
    chown "$LAB_USER:" "$home/notes.txt" "$home/backup.tar"
  fi
}

# A host's link to the switch. The server's veth is a bridge port (where run.sh captures); a client's or the
# attacker's ends outside the bridge, and lab/wanlink.py carries its frames to a second veth pair whose other end
# is the bridge port, with the run's delay, jitter and loss:
#   eth0 (host) ══ v-HOST ─(wanlink.py)─ x-HOST ══ w-HOST ─ br0
add_host() { # add_host NS ADDR...
  local ns=$1
  shift
  local short=${ns#fcl-} dev
  ip netns add "$ns"
  ip link add "v-$short" netns "$NS_SWITCH" type veth peer name eth0 netns "$ns"
  if [[ " ${WAN_LINKS[*]} " == *" $short "* ]]; then
    nsx "$NS_SWITCH" ip link add "w-$short" type veth peer name "x-$short"
    nsx "$NS_SWITCH" ip link set "w-$short" master br0 up
    for dev in "v-$short" "x-$short"; do
      nsx "$NS_SWITCH" sysctl -qw "net.ipv6.conf.$dev.disable_ipv6=1"
      nsx "$NS_SWITCH" ip link set "$dev" up
    done
    for dev in "w-$short" "x-$short"; do
      nsx "$NS_SWITCH" ethtool -K "$dev" tso off gso off gro off tx off rx off >/dev/null 2>&1 || true
    done
  else
    nsx "$NS_SWITCH" ip link set "v-$short" master br0 up
  fi
  nsx "$ns" ip link set lo up
  nsx "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  local a first=1
  for a in "$@"; do
    if ((first)); then
      nsx "$ns" ip addr add "$a/24" dev eth0
      first=0
    else
      # secondary addresses are still usable sources; noprefixroute keeps one lab route
      nsx "$ns" ip addr add "$a/24" dev eth0 noprefixroute
    fi
  done
  nsx "$ns" ip link set eth0 up
  # veths hand 64 KB segments around; a real NIC puts MTU-sized frames on the wire, and the
  # captures should look like that, not like this machine's offload settings.
  nsx "$ns" ethtool -K eth0 tso off gso off gro off tx off rx off >/dev/null 2>&1 || true
  nsx "$NS_SWITCH" ethtool -K "v-$short" tso off gso off gro off tx off rx off >/dev/null 2>&1 || true
}

build_net() {
  bash "$LAB_DIR/teardown.sh" --keep-assets >/dev/null 2>&1 || true
  ip netns add "$NS_SWITCH"
  nsx "$NS_SWITCH" ip link set lo up
  nsx "$NS_SWITCH" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  nsx "$NS_SWITCH" ip link add br0 type bridge
  nsx "$NS_SWITCH" ip link set br0 up
  add_host "$NS_SERVER" "${SERVER_ADDRS[@]}"
  add_host "$NS_CLIENT" "${CLIENT_ADDRS[@]}"
  add_host "$NS_ATTACKER" "${ATTACKER_ADDRS[@]}"
  # ip netns exec bind-mounts these over /etc/resolv.conf, so names resolve through the lab's
  # dnsmasq and never through the host's resolver.
  local ns
  for ns in "$NS_CLIENT" "$NS_ATTACKER" "$NS_SERVER"; do
    mkdir -p "/etc/netns/$ns"
    printf 'nameserver %s\nsearch %s\noptions timeout:1 attempts:1\n' "$DNS_ADDR" "$LAB_DOMAIN" >"/etc/netns/$ns/resolv.conf"
  done
  assert_isolated
}

# One lab/wanlink.py per WAN link, in fcl-switch, starting with no delay or loss (run.sh sets each run's).
start_wan_links() {
  local link i
  mkdir -p "$WAN_DIR"
  for link in "${WAN_LINKS[@]}"; do
    printf '{}\n' >"$WAN_DIR/$link.json"
    rm -f "$WAN_DIR/$link.json.applied"
    # ahead of the tools in the CPU queue: a busy machine should not become the link's jitter
    ip netns exec "$NS_SWITCH" nice -n -5 "$PY" "$LAB_DIR/wanlink.py" --host-side "v-$link" --switch-side "x-$link" \
      --conf "$WAN_DIR/$link.json" >"$WAN_DIR/$link.log" 2>&1 &
    echo $! >"$WAN_DIR/$link.pid"
  done
  for link in "${WAN_LINKS[@]}"; do
    for i in $(seq 1 100); do
      [[ -e $WAN_DIR/$link.json.applied ]] && break
      sleep 0.05
    done
    [[ -e $WAN_DIR/$link.json.applied ]] || die "WAN link $link did not start (see $WAN_DIR/$link.log)"
  done
}

write_nginx_conf() {
  local d=$RUNSTATE/nginx p listens=""
  mkdir -p "$d/tmp"
  for p in "${HTTP_PORTS[@]}"; do listens+="    listen $p;"$'\n'; done
  for p in "${HTTPS_PORTS[@]}"; do
    if [[ " ${H2_PORTS[*]} " == *" $p "* ]]; then
      listens+="    listen $p ssl http2;"$'\n'
    else
      listens+="    listen $p ssl;"$'\n'
    fi
  done
  cat >"$d/nginx.conf" <<EOF
user root;
worker_processes 2;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 4096; }
http {
  include /etc/nginx/mime.types;
  access_log off;
  sendfile on;
  keepalive_timeout 15;
  client_body_temp_path $d/tmp/body;
  proxy_temp_path $d/tmp/proxy;
  fastcgi_temp_path $d/tmp/fastcgi;
  uwsgi_temp_path $d/tmp/uwsgi;
  scgi_temp_path $d/tmp/scgi;
  ssl_certificate $ASSETS/tls.crt;
  ssl_certificate_key $ASSETS/tls.key;
  server {
$listens
    server_name _;
    root $ASSETS/www;
    index index.html;
    location /app/ {
      proxy_pass http://127.0.0.1:$VULNAPP_PORT;
      proxy_set_header Host \$host;
    }
    location /ws/ {
      proxy_pass http://127.0.0.1:$WS_PORT;
      proxy_http_version 1.1;
      proxy_set_header Upgrade \$http_upgrade;
      proxy_set_header Connection "upgrade";
      proxy_read_timeout 120s;
    }
    location /admin/ {
      auth_basic "lab admin";
      auth_basic_user_file $ASSETS/htpasswd;
    }
  }
}
EOF
}

write_sshd_conf() {
  local d=$RUNSTATE/sshd p
  mkdir -p "$d" /run/sshd
  {
    for p in "${SSH_PORTS[@]}"; do echo "Port $p"; done
    cat <<EOF
HostKey $ASSETS/ssh_host_ed25519_key
HostKey $ASSETS/ssh_host_rsa_key
PidFile $d/sshd.pid
PasswordAuthentication yes
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin no
UsePAM no
UseDNS no
MaxStartups 200:30:400
MaxAuthTries 6
LoginGraceTime 20
AllowUsers $LAB_USER
Subsystem sftp internal-sftp
EOF
  } >"$d/sshd_config"
}

start_services() {
  local d=$RUNSTATE
  start_wan_links
  write_nginx_conf
  write_sshd_conf
  ip netns exec "$NS_SERVER" python3 "$LAB_DIR/vulnapp.py" --port "$VULNAPP_PORT" --db "$d/vulnapp.sqlite" \
    --password "$LAB_PASS" >"$d/vulnapp.log" 2>&1 &
  echo $! >"$d/vulnapp.pid"
  nsx "$NS_SERVER" nginx -e "$d/nginx/error.log" -c "$d/nginx/nginx.conf" -p "$d/nginx"
  nsx "$NS_SERVER" /usr/sbin/sshd -f "$d/sshd/sshd_config" -E "$d/sshd/sshd.log"
  local listen=() a
  for a in "${SERVER_ADDRS[@]}"; do listen+=("--listen-address=$a"); done
  nsx "$NS_SERVER" dnsmasq --conf-file=/dev/null --no-resolv --no-hosts --bind-interfaces \
    "${listen[@]}" --except-interface=lo --pid-file="$d/dnsmasq.pid" --local="/$LAB_DOMAIN/" \
    --domain="$LAB_DOMAIN" --log-facility="$d/dnsmasq.log" --cache-size=0 \
    --host-record="www.$LAB_DOMAIN,${SERVER_ADDRS[0]}" \
    --host-record="files.$LAB_DOMAIN,${SERVER_ADDRS[1]}" \
    --host-record="api.$LAB_DOMAIN,${SERVER_ADDRS[2]}" \
    --host-record="shell.$LAB_DOMAIN,${SERVER_ADDRS[3]}" \
    --host-record="cdn.$LAB_DOMAIN,${SERVER_ADDRS[1]}" \
    --host-record="docs.$LAB_DOMAIN,${SERVER_ADDRS[2]}" \
    --host-record="git.$LAB_DOMAIN,${SERVER_ADDRS[3]}" \
    --host-record="mail.$LAB_DOMAIN,${SERVER_ADDRS[0]}" \
    --mx-host="$LAB_DOMAIN,mail.$LAB_DOMAIN,10" \
    --txt-record="$LAB_DOMAIN,v=spf1 mx -all" \
    --txt-record="_dmarc.$LAB_DOMAIN,v=DMARC1; p=none" \
    --srv-host="_ssh._tcp.$LAB_DOMAIN,shell.$LAB_DOMAIN,22" \
    --host-record="ftp.$LAB_DOMAIN,${SERVER_ADDRS[1]}" \
    --host-record="imap.$LAB_DOMAIN,${SERVER_ADDRS[0]}" \
    --host-record="smtp.$LAB_DOMAIN,${SERVER_ADDRS[0]}" \
    --host-record="db.$LAB_DOMAIN,${SERVER_ADDRS[2]}" \
    --host-record="cache.$LAB_DOMAIN,${SERVER_ADDRS[3]}" \
    --host-record="mqtt.$LAB_DOMAIN,${SERVER_ADDRS[2]}" \
    --host-record="ntp.$LAB_DOMAIN,${SERVER_ADDRS[3]}" \
    --srv-host="_imap._tcp.$LAB_DOMAIN,imap.$LAB_DOMAIN,$IMAP_PORT" \
    --srv-host="_submission._tcp.$LAB_DOMAIN,smtp.$LAB_DOMAIN,587"
  start_more_services
}

check_services() {
  local i ok=0
  for i in $(seq 1 50); do
    if nsx "$NS_CLIENT" curl -fsS -o /dev/null --max-time 2 "http://${SERVER_ADDRS[0]}/app/login" 2>/dev/null &&
      nsx "$NS_CLIENT" curl -fsSk -o /dev/null --max-time 2 "https://www.$LAB_DOMAIN/" 2>/dev/null; then
      ok=1
      break
    fi
    sleep 0.2
  done
  ((ok)) || die "web services did not come up (see $RUNSTATE/nginx/error.log, $RUNSTATE/vulnapp.log)"
  nsx "$NS_CLIENT" ssh -F /dev/null -i "$ASSETS/client_key" -o BatchMode=yes -o StrictHostKeyChecking=no \
    -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -p 2222 "$LAB_USER@${SERVER_ADDRS[3]}" true ||
    die "ssh did not come up (see $RUNSTATE/sshd/sshd.log)"
  [[ -n $(nsx "$NS_CLIENT" dig +short +time=1 +tries=1 "files.$LAB_DOMAIN") ]] || die "dnsmasq does not answer"
  log "services answer: http(s) on ${#HTTP_PORTS[@]}+${#HTTPS_PORTS[@]} ports, ssh on ${#SSH_PORTS[@]} ports, dns"
  check_more_services
}

main() {
  need_root
  step "install packages" install_packages
  # `setup.sh packages` only installs the tools: stack/install.sh does that ahead of the tests, so that no test
  # spends its time budget on apt-get on a new machine.
  [[ ${1:-} == packages ]] && return 0
  step "make assets" make_assets
  step "build namespaces, bridge, veths" build_net
  step "start services in $NS_SERVER" start_services
  step "check services" check_services
  step "check isolation" assert_isolated
  nsx "$NS_ATTACKER" ip route | sed 's/^/[lab] fcl-attacker route: /' >&2
}

main "$@"
