# shellcheck shell=bash
# shellcheck disable=SC2034,SC2153  # settings come from lib.sh, run state from run.sh
# The lab's benign traffic: simulated users in fcl-client, each doing random actions with think time, and a few
# long-lived sessions that idle most of the time. Sourced by scenarios.sh. Every tool call runs under `timeout`;
# a call that fails (a lossy link, a connection cut by the timeout) fails as a user's would, and the user goes on.
# Tools that can choose their source address get one of the run's client addresses (C_ADDRS); the others
# (mariadb, psql, redis-cli, ntpdig) use the namespace's preferred source, which run.sh sets to C_ADDRS[0].

MAIL_NAMES=(mail smtp imap)
MQTT_TOPICS=(lab/sensors/temp lab/sensors/humidity lab/alerts lab/jobs/status lab/chat)

# a random pick of the run's client sources, of a server by name or address
pick_src() { pick "$1" "${C_ADDRS[@]}"; }
pick_server() { # pick_server VAR NAME...  (a lab name in 60% of picks, else a server address)
  local -n _ps=$1
  shift
  if chance 60; then
    pick _ps "$@"
    _ps="$_ps.$LAB_DOMAIN"
  else
    pick _ps "${SERVER_ADDRS[@]}"
  fi
}

pick_word() {
  local w=(lamp desk chair cable router switch laptop phone mug pen)
  echo "${w[RANDOM % ${#w[@]}]}"
}

# ---------------------------------------------------------------- the web: HTTP/1.1, HTTP/2, WebSocket

web_action() {
  local src name proto port host url k=() n i page sz obj
  pick_src src
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
  case $((RANDOM % 14)) in
  0) # one page
    cl timeout 10 curl -s "${k[@]}" --interface "$src" -o /dev/null "$url/docs/page$page.html" ;;
  1 | 2) # a page and its objects over one keep-alive connection, as a browser without HTTP/2 fetches them
    local args=()
    rand n 4 30
    for ((i = 0; i < n; i++)); do
      case $((i % 3)) in
      0) obj="style$((RANDOM % 12 + 1)).css" ;;
      1) obj="img$((RANDOM % 12 + 1)).png" ;;
      2) obj="asset$((RANDOM % 12 + 1)).js" ;;
      esac
      args+=(-o /dev/null "$url/static/$obj")
    done
    cl timeout 15 curl -s "${k[@]}" --interface "$src" -A "Mozilla/5.0 (X11; Linux x86_64)" -o /dev/null \
      "$url/docs/page$page.html" "${args[@]}" ;;
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
  8 | 9) # a reader on one keep-alive connection: a page, its objects, reading time, the next page
    local pages
    rand pages 2 5
    cl timeout 22 "$PY" "$LAB_DIR/labclients.py" browse --src "$src" --url "$url" \
      --pages "$pages" --think 0.3 "$((RANDOM % 4 + 1))" --seed "$RANDOM" 2>/dev/null ;;
  10) # HTTP/2 where the port offers it: a page and its objects multiplexed on one TLS connection
    pick port "${H2_PORTS[@]}"
    local args=()
    rand n 4 40
    for ((i = 0; i < n; i++)); do
      if ((i % 2)); then obj="img$((RANDOM % 12 + 1)).png"; else obj="asset$((RANDOM % 12 + 1)).js"; fi
      args+=(-o /dev/null "https://$host:$port/static/$obj")
    done
    cl timeout 15 curl -s -k --http2 -Z --parallel-max "$((RANDOM % 6 + 2))" --interface "$src" \
      -o /dev/null "https://$host:$port/docs/page$page.html" "${args[@]}" 2>/dev/null ;; # -Z prints progress even with -s
  11) # a WebSocket app: chat messages with pauses, or a feed of updates
    local ws=ws
    [[ $proto == https ]] && ws=wss
    if chance 50; then
      cl timeout 20 "$PY" "$LAB_DIR/labclients.py" ws --src "$src" --url "$ws://$host:$port/ws/" \
        --messages "$((RANDOM % 12 + 1))" --think 0.2 3 --seed "$RANDOM" 2>/dev/null
    else
      cl timeout 20 "$PY" "$LAB_DIR/labclients.py" ws --src "$src" --url "$ws://$host:$port/ws/" \
        --messages 1 --subscribe "$((RANDOM % 20 + 3))" --seed "$RANDOM" 2>/dev/null
    fi ;;
  12) # the admin page behind HTTP basic auth; now and then a mistyped password first
    if chance 25; then
      cl timeout 8 curl -s "${k[@]}" --interface "$src" -o /dev/null -u "$LAB_USER:${LAB_PASS}x" "$url/admin/"
      rsleep 800 3000
    fi
    cl timeout 8 curl -s "${k[@]}" --interface "$src" -o /dev/null -u "$LAB_USER:$LAB_PASS" "$url/admin/" ;;
  13) # a bulk download of several megabytes, sometimes throttled by the client
    local lim=() big
    pick big 8 8 32
    chance 30 && lim=(--limit-rate "$((RANDOM % 4 + 1))M")
    cl timeout 20 curl -s "${k[@]}" --interface "$src" "${lim[@]}" -o /dev/null "$url/files/bulk-${big}m.bin" ;;
  esac
}

# ---------------------------------------------------------------- DNS over UDP and TCP

dns_action() {
  local src name type tool n i tcp=()
  pick_src src
  rand n 1 4
  chance 25 && tcp=(+tcp)
  for ((i = 0; i < n; i++)); do
    case $((RANDOM % 10)) in
    0 | 1 | 2 | 3 | 4) pick name "${DNS_NAMES[@]}" ftp imap smtp db cache mqtt ntp; name="$name.$LAB_DOMAIN" ;;
    5 | 6) name="$LAB_DOMAIN" ;;
    7) pick name "_ssh._tcp.$LAB_DOMAIN" "_imap._tcp.$LAB_DOMAIN" "_submission._tcp.$LAB_DOMAIN" ;;
    8) name="host$RANDOM.$LAB_DOMAIN" ;; # NXDOMAIN, as typos and stale names do
    9) pick name example.com debian.org updates.internal ;; # answered REFUSED: no upstream
    esac
    pick type A A A AAAA MX TXT SRV ANY
    pick tool dig dig host nslookup
    ((${#tcp[@]})) && tool=dig
    case $tool in
    dig) cl timeout 4 dig "${tcp[@]}" +time=2 +tries=1 -b "$src" "@$DNS_ADDR" "$name" "$type" >/dev/null || true ;;
    host) cl timeout 4 host -W 2 -t "$type" "$name" "$DNS_ADDR" >/dev/null || true ;;
    nslookup) cl timeout 4 nslookup -timeout=2 -type="$type" "$name" "$DNS_ADDR" >/dev/null || true ;;
    esac
    rsleep 10 400
  done
  # a resolver's batch: several queries on one TCP connection
  if chance 15; then
    cl timeout 6 dig +tcp +keepopen +time=2 +tries=1 -b "$src" "@$DNS_ADDR" "www.$LAB_DOMAIN" A \
      "$LAB_DOMAIN" MX "$LAB_DOMAIN" TXT "_imap._tcp.$LAB_DOMAIN" SRV >/dev/null || true
  fi
}

# ---------------------------------------------------------------- SSH: shells, commands, copies

ssh_action() {
  local src port target cmds i n f
  pick_src src
  pick port "${SSH_PORTS[@]}"
  pick target "${SERVER_ADDRS[@]}" "shell.$LAB_DOMAIN"
  local key=(-i "$ASSETS/client_key" -o BatchMode=yes)
  case $((RANDOM % 8)) in
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
  6) # a bulk copy: a 16 MB archive, cut short by the timeout on a slow link
    cl timeout 20 scp -q "${SSH_OPTS[@]}" "${key[@]}" -o BindAddress="$src" -P "$port" "$LAB_USER@$target:bulk.tar" /dev/null >/dev/null 2>&1 || true ;;
  7) # sftp: a listing and a file
    printf 'ls -l\nget notes.txt /dev/null\nbye\n' |
      cl timeout 12 sftp -q "${SSH_OPTS[@]}" "${key[@]}" -o BindAddress="$src" -P "$port" -b - "$LAB_USER@$target" >/dev/null 2>&1 || true ;;
  esac
}

# ---------------------------------------------------------------- mail: SMTP submission, IMAP, POP3

mail_action() {
  local src host port how
  pick_src src
  pick_server host "${MAIL_NAMES[@]}"
  case $((RANDOM % 7)) in
  0 | 1) # a mail client sends one to three messages (submission with STARTTLS and login, or plain SMTP)
    pick port "${SMTP_PORTS[@]}" "$SMTPS_PORT"
    local tls=()
    if [[ $port == "$SMTPS_PORT" ]]; then tls=(--tls); elif chance 60; then tls=(--starttls); fi
    local auth=()
    chance 60 && auth=(--auth "$LAB_USER" "$LAB_PASS")
    cl timeout 20 "$PY" "$LAB_DIR/labclients.py" smtp --src "$src" --host "$host" --port "$port" "${tls[@]}" "${auth[@]}" \
      --messages "$((RANDOM % 3 + 1))" --seed "$RANDOM" 2>/dev/null ;;
  2) # swaks, the admin's SMTP test tool
    pick port "${SMTP_PORTS[@]}"
    local how=()
    chance 50 && how=(--tls)
    cl timeout 12 swaks --server "$host" --port "$port" --local-interface "$src" --to "labuser@$LAB_DOMAIN" \
      --from "monitor@$LAB_DOMAIN" --header "Subject: check $RANDOM" "${how[@]}" --silent 2 >/dev/null 2>&1 ;;
  3) # curl sends a file as a message
    pick port "${SMTP_PORTS[@]}"
    local f
    f=$(mktemp "$RUN_DIR/tmp.XXXX")
    printf 'From: cron@%s\nTo: labuser@%s\nSubject: report %s\n\n' "$LAB_DOMAIN" "$LAB_DOMAIN" "$RANDOM" >"$f"
    head -c $((RANDOM % 20000 + 100)) /dev/urandom | base64 >>"$f"
    cl timeout 10 curl -s --interface "$src" "smtp://$host:$port" --mail-from "cron@$LAB_DOMAIN" \
      --mail-rcpt "labuser@$LAB_DOMAIN" -T "$f" >/dev/null 2>&1
    rm -f "$f" ;;
  4 | 5) # an IMAP client reads a few messages (plain or IMAPS), then stays a little
    local tls=() p=$IMAP_PORT
    chance 50 && tls=(--tls) && p=$IMAPS_PORT
    cl timeout 20 "$PY" "$LAB_DIR/labclients.py" imap --src "$src" --host "$host" --port "$p" "${tls[@]}" \
      --user "$LAB_USER" --password "$LAB_PASS" --idle "$((RANDOM % 6))" --seed "$RANDOM" 2>/dev/null ;;
  6) # POP3: python's poplib or curl
    if chance 50; then
      local tls=() p=$POP3_PORT
      chance 50 && tls=(--tls) && p=$POP3S_PORT
      cl timeout 15 "$PY" "$LAB_DIR/labclients.py" pop3 --src "$src" --host "$host" --port "$p" "${tls[@]}" \
        --user "$LAB_USER" --password "$LAB_PASS" --seed "$RANDOM" 2>/dev/null
    else
      cl timeout 10 curl -s --interface "$src" "pop3://$LAB_USER:$LAB_PASS@$host:$POP3_PORT/$((RANDOM % 5 + 1))" -o /dev/null
    fi ;;
  esac
}

# ---------------------------------------------------------------- FTP: curl and lftp, passive and active

ftp_action() {
  local src host port sz mode=() login
  pick_src src
  pick_server host ftp files
  pick port "${FTP_PORTS[@]}"
  chance 25 && mode=(-P -) # active mode: the server connects back from port 20
  if chance 50; then login=""; else login="$LAB_USER:$LAB_PASS@"; fi
  pick sz 4 64 256 1024 4096
  case $((RANDOM % 6)) in
  0) # a listing
    cl timeout 10 curl -s "${mode[@]}" --interface "$src" "ftp://$host:$port/pub/" -o /dev/null ;;
  1 | 2) # a download (anonymous from pub/, or the user's own file)
    if [[ -z $login ]]; then
      cl timeout 15 curl -s "${mode[@]}" --interface "$src" "ftp://$host:$port/pub/blob-${sz}k.bin" -o /dev/null
    else
      cl timeout 15 curl -s "${mode[@]}" --interface "$src" "ftp://$login$host:$port/notes.txt" -o /dev/null
    fi ;;
  3) # an upload into the user's uploads/
    local f
    f=$(mktemp "$RUN_DIR/tmp.XXXX")
    head -c $((RANDOM * (RANDOM % 20 + 1))) /dev/urandom >"$f"
    cl timeout 15 curl -s "${mode[@]}" --interface "$src" -T "$f" "ftp://$LAB_USER:$LAB_PASS@$host:$port/uploads/up$RANDOM.bin" >/dev/null
    rm -f "$f" ;;
  4) # lftp: look around, fetch a file or two
    local pasv=on
    ((${#mode[@]})) && pasv=off
    cl timeout 20 lftp -e "set net:socket-bind-ipv4 $src; set ftp:passive-mode $pasv; set net:max-retries 1; set net:timeout 6; set xfer:clobber on; \
cls -l pub; get pub/README -o /dev/null; get pub/blob-${sz}k.bin -o /dev/null; bye" -p "$port" "ftp://$host" >/dev/null 2>&1 ;;
  5) # a bulk download over FTP
    cl timeout 20 curl -s "${mode[@]}" --interface "$src" "ftp://$host:$port/pub/bulk-8m.bin" -o /dev/null ;;
  esac
}

# ---------------------------------------------------------------- databases: MariaDB, PostgreSQL, Redis

sql_session() { # sql_session N: N statements with pauses, as an application or a person at a prompt
  local n=$1 i c
  for ((i = 0; i < n; i++)); do
    rand c 0 7
    case $c in
    0) echo "SELECT COUNT(*) FROM orders;" ;;
    1) echo "SELECT id, name, email FROM customers WHERE city = '$(pick_city)' ORDER BY id LIMIT $((RANDOM % 50 + 1));" ;;
    2) echo "SELECT c.name, SUM(o.total) FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY c.name ORDER BY 2 DESC LIMIT $((RANDOM % 20 + 1));" ;;
    3) echo "INSERT INTO orders (customer_id, total, note) VALUES ($((RANDOM % 500 + 1)), $((RANDOM % 900)).$((RANDOM % 100)), 'web order');" ;;
    4) echo "UPDATE customers SET city = '$(pick_city)' WHERE id = $((RANDOM % 500 + 1));" ;;
    5) echo "SELECT * FROM orders WHERE id BETWEEN $((RANDOM % 2000)) AND $((RANDOM % 2000 + 2000)) LIMIT $((RANDOM % 300 + 1));" ;;
    6) echo "SELECT NOW();" ;;
    7) echo "SELECT note FROM orders ORDER BY id DESC LIMIT 5;" ;;
    esac
    rsleep 30 900
  done
}

pick_city() {
  local c=(Berlin Lyon Oslo Porto Graz)
  echo "${c[RANDOM % 5]}"
}

pg_session() {
  local n=$1 i
  for ((i = 0; i < n; i++)); do
    case $((RANDOM % 6)) in
    0) echo "SELECT count(*) FROM products WHERE stock > $((RANDOM % 80));" ;;
    1) echo "SELECT id, name, price FROM products ORDER BY price DESC LIMIT $((RANDOM % 40 + 1));" ;;
    2) echo "INSERT INTO events (kind, payload) VALUES ('view', '{\"p\": $((RANDOM % 2000)), \"u\": $((RANDOM % 97))}');" ;;
    3) echo "SELECT kind, count(*) FROM events GROUP BY kind;" ;;
    4) echo "SELECT * FROM products WHERE name LIKE 'product $((RANDOM % 20))%' LIMIT 50;" ;;
    5) echo "BEGIN; UPDATE products SET stock = stock - 1 WHERE id = $((RANDOM % 2000 + 1)); COMMIT;" ;;
    esac
    rsleep 30 900
  done
}

db_action() {
  local host n key
  pick_server host db
  rand n 2 8
  case $((RANDOM % 6)) in
  0 | 1) # MariaDB: an application's queries, or a person at the prompt
    sql_session "$n" | cl timeout 25 mariadb --no-defaults -h "$host" -P "$MYSQL_PORT" -u "$DB_USER" "-p$DB_PASS" \
      --connect-timeout=5 shop >/dev/null 2>&1 ;;
  2 | 3) # PostgreSQL
    pg_session "$n" | cl timeout 25 env PGPASSWORD="$DB_PASS" PGCONNECT_TIMEOUT=5 psql -q -h "$host" -p "$PG_PORT" \
      -U "$DB_USER" shop >/dev/null 2>&1 ;;
  4) # Redis: a cache's gets and sets, one connection per command as short-lived clients do
    local p auth=() i
    pick p "${REDIS_PORTS[@]}"
    [[ $p == "${REDIS_PORTS[1]}" ]] && auth=(-a "$REDIS_PASS" --no-auth-warning)
    for ((i = 0; i < n; i++)); do
      key="session:$((RANDOM % 50))"
      case $((RANDOM % 4)) in
      0) cl timeout 5 redis-cli -h "$host" -p "$p" "${auth[@]}" SET "$key" "$(head -c $((RANDOM % 400 + 8)) /dev/urandom | base64 -w0)" EX 600 ;;
      1) cl timeout 5 redis-cli -h "$host" -p "$p" "${auth[@]}" GET "$key" ;;
      2) cl timeout 5 redis-cli -h "$host" -p "$p" "${auth[@]}" INCR "counter:$((RANDOM % 5))" ;;
      3) cl timeout 5 redis-cli -h "$host" -p "$p" "${auth[@]}" LPUSH jobs "job-$RANDOM" ;;
      esac
      rsleep 20 600
    done >/dev/null 2>&1 ;;
  5) # Redis: a worker's batch on one connection (a pipeline of commands)
    local p auth=()
    pick p "${REDIS_PORTS[@]}"
    [[ $p == "${REDIS_PORTS[1]}" ]] && auth=(-a "$REDIS_PASS" --no-auth-warning)
    {
      for ((i = 0; i < n * 10; i++)); do
        printf 'HSET item:%d name item%d price %d\n' "$((RANDOM % 500))" "$i" "$RANDOM"
      done
      echo "LRANGE jobs 0 20"
      echo "PUBLISH news update-$RANDOM"
    } | cl timeout 10 redis-cli -h "$host" -p "$p" "${auth[@]}" >/dev/null 2>&1 ;;
  esac
}

# ---------------------------------------------------------------- MQTT, NTP

mqtt_action() {
  local src host port topic n tls=()
  pick_src src
  pick_server host mqtt
  pick port "${MQTT_PORTS[@]}" "${MQTT_PORTS[@]}" "$MQTTS_PORT"
  [[ $port == "$MQTTS_PORT" ]] && tls=(--cafile "$ASSETS/tls.crt" --insecure)
  pick topic "${MQTT_TOPICS[@]}"
  rand n 1 20
  case $((RANDOM % 4)) in
  0 | 1) # a sensor publishing readings
    cl timeout 20 mosquitto_pub -h "$host" -p "$port" "${tls[@]}" -A "$src" -t "$topic" -q "$((RANDOM % 3))" \
      -m "{\"v\":$RANDOM,\"unit\":\"c\"}" --repeat "$n" --repeat-delay "0.$((RANDOM % 9 + 1))" >/dev/null 2>&1 ;;
  2) # a dashboard reading a few messages
    cl timeout 10 mosquitto_sub -h "$host" -p "$port" "${tls[@]}" -A "$src" -t 'lab/#' -C "$n" -W 6 >/dev/null 2>&1 ;;
  3) # curl publishes one message
    cl timeout 6 curl -s --interface "$src" -d "state=$RANDOM" "mqtt://$host:${MQTT_PORTS[0]}/$topic" >/dev/null 2>&1 ;;
  esac
}

ntp_action() {
  local host
  pick_server host ntp
  cl timeout 8 ntpdig -t 2 -p "$((RANDOM % 3 + 1))" -g "$((RANDOM % 400 + 50))" "$host" >/dev/null 2>&1
}

# ---------------------------------------------------------------- long-lived sessions that mostly idle

# One session that stays open for SECS with little or no traffic: a message-bus subscriber with keepalives, an
# SSH session left open, a mail client, a pub/sub listener, a pooled database connection, a quiet WebSocket.
idle_session() { # idle_session SECS
  local secs=$1 src host port k
  pick_src src
  rand k 5 30
  case $((RANDOM % 7)) in
  0) pick_server host mqtt
    pick port "${MQTT_PORTS[@]}"
    cl timeout $((secs + 3)) mosquitto_sub -h "$host" -p "$port" -A "$src" -k "$k" -t 'lab/#' -W "$secs" >/dev/null 2>&1 ;;
  1) pick port "${SSH_PORTS[@]}"
    pick host "${SERVER_ADDRS[@]}"
    local alive=()
    chance 60 && alive=(-o ServerAliveInterval="$k")
    cl timeout $((secs + 8)) ssh "${SSH_OPTS[@]}" "${alive[@]}" -i "$ASSETS/client_key" -o BatchMode=yes -b "$src" \
      -p "$port" "$LAB_USER@$host" "sleep $secs; uptime" >/dev/null 2>&1 ;;
  2) pick_server host "${MAIL_NAMES[@]}"
    cl timeout $((secs + 8)) "$PY" "$LAB_DIR/labclients.py" imap --src "$src" --host "$host" --port "$IMAP_PORT" \
      --user "$LAB_USER" --password "$LAB_PASS" --idle "$secs" --seed "$RANDOM" 2>/dev/null ;;
  3) pick_server host cache
    cl timeout "$secs" redis-cli -h "$host" -p "${REDIS_PORTS[0]}" SUBSCRIBE news >/dev/null 2>&1 ;;
  4) pick_server host db
    { echo "SELECT NOW();"; sleep "$secs"; echo "SELECT COUNT(*) FROM customers;"; } |
      cl timeout $((secs + 5)) mariadb --no-defaults -h "$host" -u "$DB_USER" "-p$DB_PASS" shop >/dev/null 2>&1 ;;
  5) pick_server host db
    { echo "SELECT now();"; sleep "$secs"; echo "SELECT count(*) FROM products;"; } |
      cl timeout $((secs + 5)) env PGPASSWORD="$DB_PASS" psql -q -h "$host" -U "$DB_USER" shop >/dev/null 2>&1 ;;
  6) pick_server host "${WEB_NAMES[@]}"
    pick port "${HTTP_PORTS[@]}"
    cl timeout $((secs + 5)) "$PY" "$LAB_DIR/labclients.py" ws --src "$src" --url "ws://$host:$port/ws/" \
      --messages "$((secs / 8 + 1))" --think 5 8 --seed "$RANDOM" 2>/dev/null ;;
  esac
  return 0
}

idle_sessions() { # idle_sessions N MAX_SECS  (each opens at a random moment and lasts up to MAX_SECS)
  local i secs pids=()
  for ((i = 0; i < $1; i++)); do
    rand secs $(($2 / 2)) "$2"
    (
      RANDOM=$((SEED * 977 + i * 31 + 7))
      rsleep 0 2000
      idle_session "$secs"
    ) &
    pids+=($!)
  done
  wait "${pids[@]}" || true
}

# ---------------------------------------------------------------- users

# One simulated user: random actions with think time until the deadline, and past it while the file
# $KEEP_GOING exists (an attack is still running), up to 60 s more.
benign_user() { # benign_user SEED SECS MIN_THINK_MS MAX_THINK_MS
  RANDOM=$1
  local end=$((EPOCHSECONDS + $2)) cap=$((EPOCHSECONDS + $2 + 60)) r
  # the tool calls of a benign run end soon after its deadline (cl in scenarios.sh); in an attack run the
  # users go on while the attack does, so there is no deadline to keep
  [[ -z ${KEEP_GOING:-} ]] && USER_DEADLINE=$end
  while ((EPOCHSECONDS < end)) || [[ -n ${KEEP_GOING:-} && -e $KEEP_GOING ]] && ((EPOCHSECONDS < cap)); do
    r=$((RANDOM % 100))
    if ((r < 32)); then
      web_action || true
    elif ((r < 44)); then
      dns_action || true
    elif ((r < 54)); then
      ssh_action || true
    elif ((r < 66)); then
      mail_action || true
    elif ((r < 74)); then
      ftp_action || true
    elif ((r < 86)); then
      db_action || true
    elif ((r < 94)); then
      mqtt_action || true
    else
      ntp_action || true
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

# Attack runs carry benign traffic alongside for as long as the attack runs, so a capture is never
# "all one class" and the benign sessions see the same link conditions as the attack's.
with_background() { # with_background CMD...
  KEEP_GOING=$(mktemp "$RUN_DIR/tmp.attack-running.XXXX")
  benign_traffic 3 "$RUN_SECS" 200 1500 &
  local bg=$!
  idle_sessions 1 "$RUN_SECS" &
  local idle=$!
  "$@"
  rm -f "$KEEP_GOING"
  wait "$bg" "$idle" || true
}

scenario_benign() {
  local users idle
  rand users 4 7
  rand idle 1 3
  RUN_NOTES+=("users=$users idle_sessions=$idle")
  idle_sessions "$idle" "$((RUN_SECS - 2))" &
  local idle_pid=$!
  benign_traffic "$users" "$RUN_SECS" 20 700
  wait "$idle_pid" || true
}
