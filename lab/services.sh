# shellcheck shell=bash
# shellcheck disable=SC2153  # settings come from lib.sh
# The server's services beyond nginx, sshd and dnsmasq: FTP (vsftpd), SMTP (lab/labservers.py on aiosmtpd),
# IMAP and POP3 (dovecot), MariaDB, PostgreSQL, Redis, MQTT (mosquitto), NTP and WebSocket (lab/labservers.py).
# Sourced by setup.sh after lib.sh. Every daemon runs inside fcl-server from a config under .lab/run/ and is bound
# to the server's lab addresses (SERVER_ADDRS) or to its loopback; none uses the host's own config or data.

srv() { nsx "$NS_SERVER" "$@"; }
# Background daemons start with `ip netns exec` itself, not through a function: a function run with & leaves a
# subshell behind that holds setup's stdout open (a caller reading it would wait forever) and whose pid is not
# the daemon's.

csv() { # csv ITEM... -> ITEM,ITEM,...
  local IFS=,
  echo "$*"
}

# Files the new services serve: an anonymous FTP tree, large files for bulk transfers, a password-protected admin
# page for HTTP basic auth, and a mailbox with mail in it for IMAP and POP3 clients to read.
make_service_assets() {
  local www=$ASSETS/www sz home f
  for sz in 8 32; do
    [[ -s $www/files/bulk-${sz}m.bin ]] || head -c $((sz << 20)) /dev/urandom >"$www/files/bulk-${sz}m.bin"
  done
  mkdir -p "$ASSETS/ftp/pub" "$www/admin"
  chmod 755 "$ASSETS/ftp" "$ASSETS/ftp/pub"
  for f in blob-4k.bin blob-64k.bin blob-256k.bin blob-1024k.bin blob-4096k.bin bulk-8m.bin; do
    [[ -e $ASSETS/ftp/pub/$f ]] || ln "$www/files/$f" "$ASSETS/ftp/pub/$f"
  done
  [[ -s $ASSETS/ftp/pub/README ]] || printf 'fleetcap lab mirror\nfiles: blob-*.bin, bulk-8m.bin\n' >"$ASSETS/ftp/pub/README"
  [[ -s $www/admin/index.html ]] || printf '<!doctype html><title>admin</title><h1>Admin</h1><p>status: ok</p>\n' >"$www/admin/index.html"
  [[ -s $ASSETS/htpasswd ]] || printf '%s:%s\n' "$LAB_USER" "$(openssl passwd -apr1 "$LAB_PASS")" >"$ASSETS/htpasswd"
  chmod 644 "$ASSETS/htpasswd"
  home=$(getent passwd "$LAB_USER" | cut -d: -f6)
  # FTP uploads land here; each setup starts with it empty
  rm -rf "$home/uploads"
  install -d -m 755 -o "$LAB_USER" -g "$LAB_USER" "$home/uploads"
  if [[ ! -s $home/bulk.tar ]]; then
    head -c $((16 << 20)) /dev/urandom >"$home/bulk.tar"
    chown "$LAB_USER:" "$home/bulk.tar"
  fi
  # Mail that arrives by SMTP in every run piles up here; keep the newest 100 so that IMAP listings stay small.
  if [[ -d $home/Maildir/new ]]; then
    find "$home/Maildir/new" "$home/Maildir/cur" -type f -printf '%T@ %p\n' | sort -rn | tail -n +101 |
      cut -d' ' -f2- | xargs -r rm -f
  fi
  runuser -u "$LAB_USER" -- "$PY" - "$home/Maildir" <<'EOF'
import mailbox, random, sys
from email.message import EmailMessage
box = mailbox.Maildir(sys.argv[1], create=True)
rng = random.Random(1)
for i in range(max(0, 12 - len(box))):
    m = EmailMessage()
    m["From"], m["To"] = f"user{i}@lab.test", "labuser@lab.test"
    m["Subject"] = f"message {i}"
    m.set_content("hello\n" * rng.randint(5, 400))
    box.add(m)
EOF
}

write_vsftpd_conf() { # write_vsftpd_conf ADDR PORT -> prints the config's path
  local d=$RUNSTATE/vsftpd conf
  conf=$d/vsftpd-$1-$2.conf
  cat >"$conf" <<EOF
listen=YES
listen_ipv6=NO
listen_address=$1
listen_port=$2
background=NO
anonymous_enable=YES
anon_root=$ASSETS/ftp
no_anon_password=YES
local_enable=YES
write_enable=YES
local_umask=022
pasv_enable=YES
pasv_min_port=${FTP_PASV_PORTS[0]}
pasv_max_port=${FTP_PASV_PORTS[1]}
connect_from_port_20=YES
secure_chroot_dir=$d/empty
pam_service_name=vsftpd
seccomp_sandbox=NO
xferlog_enable=YES
vsftpd_log_file=$d/vsftpd.log
max_clients=300
max_per_ip=100
ftpd_banner=lab FTP service ready
EOF
  echo "$conf"
}

start_ftp() {
  local d=$RUNSTATE/vsftpd a p conf
  mkdir -p "$d"
  install -d -m 755 -o root -g root "$d/empty"
  for a in "${SERVER_ADDRS[@]}"; do
    for p in "${FTP_PORTS[@]}"; do
      conf=$(write_vsftpd_conf "$a" "$p")
      ip netns exec "$NS_SERVER" vsftpd "$conf" >>"$d/vsftpd.out" 2>&1 &
    done
  done
}

write_dovecot_conf() {
  local d=$RUNSTATE/dovecot home
  home=$(getent passwd "$LAB_USER" | cut -d: -f6)
  mkdir -p "$d"
  printf '%s:{PLAIN}%s\n' "$LAB_USER" "$LAB_PASS" >"$d/passwd"
  # dovecot's auth process reads it as the dovecot user
  chown root:dovecot "$d/passwd"
  chmod 640 "$d/passwd"
  cat >"$d/dovecot.conf" <<EOF
protocols = imap pop3
listen = $(csv "${SERVER_ADDRS[@]}" | sed 's/,/, /g')
base_dir = $d/base
state_dir = $d/state
log_path = $d/dovecot.log
ssl = yes
ssl_cert = <$ASSETS/tls.crt
ssl_key = <$ASSETS/tls.key
ssl_dh = </usr/share/dovecot/dh.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $d/passwd
}
userdb {
  driver = static
  args = uid=$LAB_USER gid=$LAB_USER home=$home
}
mail_location = maildir:~/Maildir
service imap-login {
  inet_listener imap {
    port = $IMAP_PORT
  }
  inet_listener imaps {
    port = $IMAPS_PORT
    ssl = yes
  }
}
service pop3-login {
  inet_listener pop3 {
    port = $POP3_PORT
  }
  inet_listener pop3s {
    port = $POP3S_PORT
    ssl = yes
  }
}
protocol imap {
  mail_max_userip_connections = 100
}
protocol pop3 {
  mail_max_userip_connections = 100
}
EOF
}

start_mail() {
  local d=$RUNSTATE/mail listen=() a p home
  mkdir -p "$d"
  home=$(getent passwd "$LAB_USER" | cut -d: -f6)
  for a in "${SERVER_ADDRS[@]}"; do
    for p in "${SMTP_PORTS[@]}"; do listen+=("$a:$p:starttls"); done
    listen+=("$a:$SMTPS_PORT:tls")
  done
  ip netns exec "$NS_SERVER" "$PY" "$LAB_DIR/labservers.py" smtp --listen "${listen[@]}" --maildir "$home/Maildir" \
    --user "$LAB_USER" --password "$LAB_PASS" --cert "$ASSETS/tls.crt" --key "$ASSETS/tls.key" >"$d/smtp.log" 2>&1 &
  echo $! >"$d/smtp.pid"
  write_dovecot_conf
  srv dovecot -c "$RUNSTATE/dovecot/dovecot.conf"
}

start_mariadb() {
  local d=$RUNSTATE/mariadb i
  mkdir -p "$d"
  if [[ ! -d $d/data/mysql ]]; then
    rm -rf "$d/data"
    mariadb-install-db --no-defaults --user=root --datadir="$d/data" --auth-root-authentication-method=normal \
      --skip-test-db >"$d/install.log" 2>&1 || die "mariadb-install-db failed (see $d/install.log)"
    rm -f "$d/.seeded"
  fi
  ip netns exec "$NS_SERVER" mariadbd --no-defaults --user=root --datadir="$d/data" --socket="$d/mariadbd.sock" \
    --pid-file="$d/mariadbd.pid" --port="$MYSQL_PORT" --bind-address="$(csv "${SERVER_ADDRS[@]}")" \
    --skip-name-resolve --innodb-buffer-pool-size=16M --performance-schema=OFF --max-connections=300 \
    --log-error="$d/error.log" >/dev/null 2>&1 &
  for i in $(seq 1 100); do
    [[ -S $d/mariadbd.sock ]] && srv mariadb --no-defaults --socket="$d/mariadbd.sock" -uroot -e 'select 1' >/dev/null 2>&1 && break
    sleep 0.1
  done
  [[ -e $d/.seeded ]] && return 0
  srv mariadb --no-defaults --socket="$d/mariadbd.sock" -uroot <<EOF || die "could not seed MariaDB (see $d/error.log)"
CREATE DATABASE IF NOT EXISTS shop;
CREATE USER IF NOT EXISTS '$DB_USER'@'%' IDENTIFIED BY '$DB_PASS';
CREATE USER IF NOT EXISTS '$LAB_USER'@'%' IDENTIFIED BY '$LAB_PASS';
GRANT ALL ON shop.* TO '$DB_USER'@'%';
GRANT SELECT ON shop.* TO '$LAB_USER'@'%';
USE shop;
CREATE TABLE IF NOT EXISTS customers (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(64), email VARCHAR(128), city VARCHAR(64));
CREATE TABLE IF NOT EXISTS orders (id INT AUTO_INCREMENT PRIMARY KEY, customer_id INT, total DECIMAL(10,2), note TEXT, created TIMESTAMP DEFAULT CURRENT_TIMESTAMP);
INSERT INTO customers (name, email, city) SELECT CONCAT('customer', seq), CONCAT('c', seq, '@lab.test'), ELT(1 + seq % 5, 'Berlin', 'Lyon', 'Oslo', 'Porto', 'Graz') FROM seq_1_to_500;
INSERT INTO orders (customer_id, total, note) SELECT 1 + seq % 500, seq % 977 / 3.0, REPEAT('n', seq % 200) FROM seq_1_to_3000;
EOF
  date >"$d/.seeded"
}

start_postgres() {
  local d=$RUNSTATE/postgres bin i
  bin=$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d | sort -V | tail -1)
  [[ -x $bin/postgres ]] || die "PostgreSQL server not found under /usr/lib/postgresql"
  install -d -m 755 "$d"
  if [[ ! -s $d/data/PG_VERSION ]]; then
    rm -rf "$d/data"
    install -d -m 700 -o postgres -g postgres "$d/data"
    setpriv --reuid postgres --regid postgres --init-groups "$bin/initdb" -D "$d/data" -U postgres -A trust \
      --no-sync >"$d/initdb.log" 2>&1 || die "PostgreSQL initdb failed (see $d/initdb.log)"
    printf 'local all all trust\nhost all all %s scram-sha-256\n' "$LAB_CIDR" >"$d/data/pg_hba.conf"
    rm -f "$d/.seeded"
  fi
  install -d -m 755 -o postgres -g postgres "$d/sock"
  ip netns exec "$NS_SERVER" setpriv --reuid postgres --regid postgres --init-groups "$bin/postgres" -D "$d/data" \
    -c listen_addresses="$(csv "${SERVER_ADDRS[@]}")" -c port="$PG_PORT" -c unix_socket_directories="$d/sock" \
    -c shared_buffers=16MB -c fsync=off -c max_connections=200 -c password_encryption=scram-sha-256 \
    >"$d/postgres.log" 2>&1 &
  for i in $(seq 1 100); do
    srv psql -h "$d/sock" -p "$PG_PORT" -U postgres -Atc 'select 1' >/dev/null 2>&1 && break
    sleep 0.1
  done
  [[ -e $d/.seeded ]] && return 0
  srv psql -q -h "$d/sock" -p "$PG_PORT" -U postgres -v ON_ERROR_STOP=1 >/dev/null <<EOF || die "could not seed PostgreSQL (see $d/postgres.log)"
CREATE ROLE $DB_USER LOGIN PASSWORD '$DB_PASS';
CREATE ROLE $LAB_USER LOGIN PASSWORD '$LAB_PASS';
CREATE DATABASE shop OWNER $DB_USER;
\\c shop
SET ROLE $DB_USER;
CREATE TABLE products (id serial PRIMARY KEY, name text, price numeric(10,2), stock int, descr text);
CREATE TABLE events (id bigserial PRIMARY KEY, kind text, payload jsonb, at timestamptz DEFAULT now());
INSERT INTO products (name, price, stock, descr) SELECT 'product ' || g, (g % 500) / 7.0, g % 90, repeat('d', g % 300) FROM generate_series(1, 2000) g;
INSERT INTO events (kind, payload) SELECT (ARRAY['view','cart','buy'])[1 + g % 3], jsonb_build_object('p', g % 2000, 'u', g % 97) FROM generate_series(1, 5000) g;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO $LAB_USER;
EOF
  date >"$d/.seeded"
}

start_redis() {
  local d=$RUNSTATE/redis p auth
  mkdir -p "$d"
  for p in "${REDIS_PORTS[@]}"; do
    auth=()
    [[ $p == "${REDIS_PORTS[1]}" ]] && auth=(--requirepass "$REDIS_PASS")
    srv redis-server --bind "${SERVER_ADDRS[@]}" --port "$p" --protected-mode no --save '' --appendonly no \
      --dir "$d" --logfile "$d/redis-$p.log" --pidfile "$d/redis-$p.pid" --daemonize yes "${auth[@]}"
  done
}

start_mqtt() {
  local d=$RUNSTATE/mosquitto a p
  mkdir -p "$d"
  {
    cat <<EOF
per_listener_settings false
allow_anonymous true
persistence false
user root
pid_file $d/mosquitto.pid
log_dest file $d/mosquitto.log
max_keepalive 120
EOF
    for a in "${SERVER_ADDRS[@]}"; do
      for p in "${MQTT_PORTS[@]}"; do echo "listener $p $a"; done
      printf 'listener %s %s\ncertfile %s\nkeyfile %s\n' "$MQTTS_PORT" "$a" "$ASSETS/tls.crt" "$ASSETS/tls.key"
    done
  } >"$d/mosquitto.conf"
  srv mosquitto -c "$d/mosquitto.conf" -d
}

start_small_servers() {
  local d=$RUNSTATE/small
  mkdir -p "$d"
  ip netns exec "$NS_SERVER" "$PY" "$LAB_DIR/labservers.py" ntp --listen "${SERVER_ADDRS[@]}" --port "$NTP_PORT" >"$d/ntp.log" 2>&1 &
  echo $! >"$d/ntp.pid"
  ip netns exec "$NS_SERVER" "$PY" "$LAB_DIR/labservers.py" ws --port "$WS_PORT" >"$d/ws.log" 2>&1 &
  echo $! >"$d/ws.pid"
}

start_more_services() {
  start_ftp
  start_mail
  start_redis
  start_mqtt
  start_small_servers
  start_mariadb
  start_postgres
}

# Tries one service from fcl-client until it answers (services start in the background), or stops the setup.
await_service() { # await_service NAME LOG CMD...
  local name=$1 log=$2 i
  shift 2
  for i in $(seq 1 30); do
    nsx "$NS_CLIENT" timeout 3 "$@" >/dev/null 2>&1 && return 0
    sleep 0.25
  done
  die "$name did not come up (see $log)"
}

check_more_services() {
  local a=${SERVER_ADDRS[1]} r=$RUNSTATE
  await_service ftp "$r/vsftpd/vsftpd.log" curl -fsS --max-time 3 "ftp://$a:${FTP_PORTS[1]}/pub/README"
  await_service smtp "$r/mail/smtp.log" curl -fsS --max-time 3 "smtp://$a:${SMTP_PORTS[0]}" -X NOOP
  await_service imap "$r/dovecot/dovecot.log" curl -fsS --max-time 3 "imap://$LAB_USER:$LAB_PASS@$a:$IMAP_PORT/INBOX?ALL"
  await_service pop3 "$r/dovecot/dovecot.log" curl -fsS --max-time 3 "pop3://$LAB_USER:$LAB_PASS@$a:$POP3_PORT/"
  await_service redis "$r/redis/redis-${REDIS_PORTS[0]}.log" redis-cli -h "$a" -p "${REDIS_PORTS[0]}" ping
  await_service mqtt "$r/mosquitto/mosquitto.log" mosquitto_pub -h "$a" -p "${MQTT_PORTS[0]}" -t lab/setup -m up
  await_service ntp "$r/small/ntp.log" ntpdig -t 2 "$a"
  await_service websocket "$r/small/ws.log" "$PY" "$LAB_DIR/labclients.py" ws --src "${CLIENT_ADDRS[0]}" \
    --url "ws://$a:${HTTP_PORTS[0]}/ws/" --messages 1
  await_service mariadb "$r/mariadb/error.log" mariadb --no-defaults -h "$a" -u "$DB_USER" "-p$DB_PASS" shop -e 'select 1'
  await_service postgresql "$r/postgres/postgres.log" env PGPASSWORD="$DB_PASS" psql -h "$a" -U "$DB_USER" shop -Atc 'select 1'
  log "more services answer: ftp, smtp, imap, pop3, redis, mqtt, ntp, websocket, mariadb, postgresql"
}
