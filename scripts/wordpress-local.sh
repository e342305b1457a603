#!/usr/bin/env bash
# Stand up N real WordPress sites on 127.0.0.1 for wpublisher's tests and benchmarks.
#
#   scripts/wordpress-local.sh up N [--base-port 8081] [--dir DIR]
#   scripts/wordpress-local.sh down [--dir DIR]
#   scripts/wordpress-local.sh status [--dir DIR]
#   scripts/wordpress-local.sh stop SITE_ID [--dir DIR]
#   scripts/wordpress-local.sh start SITE_ID [--dir DIR]
#
# `stop wpN` stops only that site's PHP server and keeps everything else (database,
# configuration, uploads); `status` then reports it as down and sites.json has
# "pid": null for it. `start wpN` starts it again as `up` did (same port, environment,
# router; its log is appended to) and returns once GET /wp-json/ answers; it is a no-op
# for a running site. An unknown SITE_ID is an error with exit code 2.
#
# Each site: Debian's WordPress (one shared copy), its own MariaDB database, a user
# `publisher` (role editor) with an application password, served by
# `php -S 127.0.0.1:PORT` through scripts/wordpress/router.php.
#
# DIR (default: <project root>/var/wordpress; a relative --dir is taken from the current
# directory) receives:
#   sites.yml, sites.json   site configuration for wpublisher / the tests (mode 600)
#   htdocs/                 one copy of WordPress, the document root of all the sites
#   siteN/wp-config.php     configuration of site N = 1..count (DB, salts, URL; mode 600)
#   siteN/credentials.json  what install.php created (mode 600)
#   siteN.log               the PHP server's log
#   state/                  what `down` needs: DB user, databases, server PIDs
#   .lock                   serializes up/down/start/stop on the same DIR (flock)
#
# Needs root on a fresh machine (apt-get, MariaDB root over its unix socket). Installs
# what is missing: Debian's wordpress + PHP packages, and mariadb-server.
set -euo pipefail

SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
PROJECT_ROOT="$(dirname -- "$SCRIPT_DIR")"
HELPERS="$SCRIPT_DIR/wordpress"
WP_SRC=/usr/share/wordpress
MARIADBD=/usr/sbin/mariadbd

log() { printf '[wordpress-local] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
    cat >&2 <<'EOF'
usage: wordpress-local.sh up N [--base-port PORT] [--dir DIR]
       wordpress-local.sh down [--dir DIR]
       wordpress-local.sh status [--dir DIR]
       wordpress-local.sh stop SITE_ID [--dir DIR]     (SITE_ID: wp1, wp2, ...)
       wordpress-local.sh start SITE_ID [--dir DIR]
EOF
    exit 2
}

# Random hex string; read from the kernel so no PHP/Python start-up is needed.
random_hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }

now() { date +%s.%N; }

# Seconds since a now() value, one decimal.
elapsed_since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# ---------------------------------------------------------------------------------------
# Packages
# ---------------------------------------------------------------------------------------
APT_UPDATED=0

# apt-get install with service start-up suppressed: the wordpress package pulls in
# apache2 (its first "httpd" alternative) and mariadb-server would start itself; there is
# no systemd here and we run our own servers, so a policy-rc.d that answers 101 ("action
# not allowed") keeps invoke-rc.d quiet. We only remove the file if we created it.
apt_install() {
    [[ $(id -u) -eq 0 ]] || die "need root to apt-get install $*"
    if [[ $APT_UPDATED -eq 0 ]]; then
        log "apt-get update"
        apt-get update -qq >&2
        APT_UPDATED=1
    fi
    local policy=/usr/sbin/policy-rc.d created_policy=0 rc=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\n# temporary, from wordpress-local.sh: do not start services\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        created_policy=1
    fi
    log "apt-get install $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >&2 || rc=$?
    if [[ $created_policy -eq 1 ]]; then
        rm -f "$policy"
    fi
    [[ $rc -eq 0 ]] || die "apt-get install $* failed (exit $rc)"
}

# PHP with the extensions WordPress needs here: mysqli (php-mysql), dom (php-xml),
# mbstring, curl.
php_ready() {
    command -v php >/dev/null 2>&1 || return 1
    local modules ext
    modules="$(php -m 2>/dev/null)" || return 1
    for ext in mysqli dom mbstring curl; do
        grep -qix "$ext" <<<"$modules" || return 1
    done
}

ensure_packages() {
    if ! php_ready || [[ ! -f $WP_SRC/wp-includes/version.php ]]; then
        apt_install wordpress php-cli php-mysql php-xml php-mbstring php-curl
        php_ready || die "PHP with mysqli/dom/mbstring/curl still missing after install"
    fi
    if ! command -v curl >/dev/null 2>&1; then
        apt_install curl
    fi
}

# ---------------------------------------------------------------------------------------
# MariaDB (root over the unix socket; the sites themselves use TCP 127.0.0.1:3306)
# ---------------------------------------------------------------------------------------
db() {
    local client
    client="$(command -v mariadb || command -v mysql)" || die "no mariadb/mysql client"
    "$client" --user=root --batch --skip-column-names "$@"
}

db_answers() { db -e 'SELECT 1' >/dev/null 2>&1; }

ensure_mariadb() {
    if [[ ! -x $MARIADBD ]]; then
        apt_install mariadb-server
    fi
    db_answers && return 0
    [[ $(id -u) -eq 0 ]] || die "MariaDB does not answer to root over its unix socket; run this as root"
    # No systemd here: start the daemon ourselves. Its socket/pid directory lives in
    # /run, which may be empty after a reboot.
    log "starting MariaDB"
    mkdir -p /run/mysqld
    chown mysql:mysql /run/mysqld 2>/dev/null || true
    start-stop-daemon --start --oknodo --background --exec "$MARIADBD" -- --user=mysql 9>&-
    local i
    for ((i = 0; i < 120; i++)); do
        db_answers && return 0
        sleep 0.25
    done
    die "MariaDB did not answer within 30 s"
}

# ---------------------------------------------------------------------------------------
# State helpers
# ---------------------------------------------------------------------------------------
STATE_DIR=""   # set by main once DIR is known
DOCROOT=""

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# One lock per DIR for the commands that change its state (up, down, start, stop), so
# that e.g. two `start`s in parallel do not lose each other's update of state/servers.
# flock locks belong to the open file, so take it once per run (up calls do_down), and
# keep fd 9 away from the servers we start, or they would hold the lock forever.
LOCKED=0
lock_dir() {
    [[ $LOCKED -eq 0 ]] || return 0
    mkdir -p -- "$DIR"
    exec 9>"$DIR/.lock"
    flock -w 300 9 || die "another wordpress-local.sh has been working on $DIR for 5 minutes"
    LOCKED=1
}

# ---------------------------------------------------------------------------------------
# Servers. state/servers has one line per site: "ID PORT PID DB_NAME", PID being "-"
# while the site is stopped (`stop`). ID wpN is served from DIR/siteN.
# ---------------------------------------------------------------------------------------

# True if PID is the `php -S 127.0.0.1:PORT` server that we started (PIDs get reused, so
# we never signal a PID from the state file without checking what it is now).
is_our_server() {
    local pid=$1 port=$2 cmdline
    [[ $pid =~ ^[1-9][0-9]*$ && -r /proc/$pid/cmdline ]] || return 1
    cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
    [[ $cmdline == *php* && $cmdline == *"-S 127.0.0.1:$port "* ]]
}

# Process group of PID (field 5 of /proc/PID/stat; the command name in field 2 has no
# spaces for php, so plain word splitting is fine).
pgid_of() { awk '{print $5}' "/proc/$1/stat" 2>/dev/null; }

# Start the PHP server of site ID on PORT in the background, log appended to DIR/siteN.log;
# its PID goes to LAUNCHED_PID. setsid: own session and process group, so the server
# survives the caller's terminal/CI step and stop_servers can stop it with all its
# workers; nohup for the same reason when setsid is not enough (SIGHUP). stdin/stdout/
# stderr are detached, or a caller reading our output through a pipe would wait forever.
LAUNCHED_PID=""
launch_server() {
    local id=$1 port=$2
    WPL_SITE_CONFIG="$DIR/site${id#wp}/wp-config.php" PHP_CLI_SERVER_WORKERS=4 setsid nohup \
        php -S "127.0.0.1:$port" -t "$DOCROOT" "$HELPERS/router.php" \
        >>"$DIR/site${id#wp}.log" 2>&1 </dev/null 9>&- &
    LAUNCHED_PID=$!
}

# Wait until site ID's server (PID, on PORT) is ready: GET /wp-json/ answers 200
# (WordPress loaded, DB reachable, REST routed). Dies if the server exits or DEADLINE
# (epoch seconds) passes.
wait_server_ready() {
    local id=$1 port=$2 pid=$3 deadline=$4 code
    while :; do
        code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$port/wp-json/" </dev/null || true)"
        [[ $code == 200 ]] && return 0
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 20 "$DIR/site${id#wp}.log" >&2 || true
            die "$id: PHP server exited; see $DIR/site${id#wp}.log"
        fi
        (($(date +%s) < deadline)) || die "$id: no 200 from http://127.0.0.1:$port/wp-json/ (last: $code)"
        sleep 0.1
    done
}

# Stop the servers of the state lines ("ID PORT PID ...") read from stdin, all at once.
# Each one was started with setsid, so it leads its own process group that also holds
# its PHP_CLI_SERVER_WORKERS children: we signal the group, i.e. exactly our processes.
# (Signalling only the master is not enough: on SIGTERM it exits but leaves its workers
# running.) SIGINT, what Ctrl-C would send, ends a php -S group faster than SIGTERM
# (~1.3 s against ~2 s for a WordPress site here); SIGKILL is the last resort.
# Returns 1 if something still runs after SIGKILL.
stop_servers() {
    local id port pid _rest targets=() target sig i
    while read -r id port pid _rest; do
        [[ -n ${id:-} ]] || continue
        if [[ $pid == - ]]; then
            log "$id: not running (stopped)"
            continue
        fi
        if ! is_our_server "$pid" "$port"; then
            log "$id: not running (pid $pid)"
            continue
        fi
        target=$pid
        if [[ $(pgid_of "$pid") == "$pid" ]]; then
            target="-$pid"
        fi
        targets+=("$target")
        log "$id: stopping (pid $pid)"
    done
    [[ ${#targets[@]} -gt 0 ]] || return 0

    for sig in INT TERM KILL; do
        for target in "${targets[@]}"; do
            kill "-$sig" -- "$target" 2>/dev/null || true
        done
        for ((i = 0; i < 50; i++)); do
            local alive=0
            for target in "${targets[@]}"; do
                if kill -0 -- "$target" 2>/dev/null; then
                    alive=1
                    break
                fi
            done
            [[ $alive -eq 1 ]] || return 0
            sleep 0.1
        done
        log "servers still running after SIG$sig"
    done
    return 1
}

# The state line of site ID into SITE_PORT and SITE_PID; exit 2 if there is no such site.
SITE_PORT=""
SITE_PID=""
find_site() {
    local id=$1 line
    if [[ ! -f $STATE_DIR/servers ]]; then
        log "error: unknown site $id: no sites recorded in $DIR"
        exit 2
    fi
    line="$(awk -v id="$id" '$1 == id' "$STATE_DIR/servers")"
    if [[ -z $line ]]; then
        log "error: unknown site $id in $DIR (known: $(awk '{ printf "%s%s", sep, $1; sep = " " }' "$STATE_DIR/servers"))"
        exit 2
    fi
    read -r _ SITE_PORT SITE_PID _ <<<"$line"
}

print_site() { printf '%s http://127.0.0.1:%s/ (REST: http://127.0.0.1:%s/wp-json/wp/v2)\n' "$1" "$2" "$2"; }

# Record PID ("-": stopped) for site ID in state/servers, and in sites.json/sites.yml.
record_pid() {
    local id=$1 pid=$2
    awk -v id="$id" -v pid="$pid" '$1 == id { $3 = pid } { print }' \
        "$STATE_DIR/servers" >"$STATE_DIR/servers.tmp"
    mv -f -- "$STATE_DIR/servers.tmp" "$STATE_DIR/servers"
    php "$HELPERS/write-sites.php" "$DIR"
}

do_down() {
    if [[ ! -d $STATE_DIR ]]; then
        log "nothing recorded in $DIR"
        return 0
    fi
    local db_name
    if [[ -f $STATE_DIR/servers ]]; then
        stop_servers <"$STATE_DIR/servers" || log "warning: not all servers could be stopped"
    fi
    if [[ -f $STATE_DIR/dbs || -f $STATE_DIR/db_user ]]; then
        if ensure_mariadb_quietly; then
            local sql=""
            if [[ -f $STATE_DIR/dbs ]]; then
                while read -r db_name; do
                    [[ -n $db_name ]] && sql+="DROP DATABASE IF EXISTS \`$db_name\`;"
                done <"$STATE_DIR/dbs"
            fi
            if [[ -f $STATE_DIR/db_user ]]; then
                local user
                user="$(<"$STATE_DIR/db_user")"
                sql+="DROP USER IF EXISTS '$user'@'localhost', '$user'@'127.0.0.1';"
            fi
            db -e "$sql"
            log "dropped databases and DB user"
        else
            log "warning: MariaDB not reachable; databases were not dropped"
        fi
    fi
    # The credentials are dead now: remove them so that nothing reads a stale sites.yml,
    # and the sites' uploads. The logs stay for post-mortems, and the WordPress copy in
    # DIR/htdocs for the next `up`.
    rm -rf -- "$DIR"/site[0-9]*/ "$DOCROOT"/wp-content/uploads/wp[0-9]*/ \
        "$DIR/sites.yml" "$DIR/sites.json" "$STATE_DIR"
}

# For `down`: use MariaDB if it is installed, start it if needed, but never install it.
ensure_mariadb_quietly() {
    [[ -x $MARIADBD ]] || return 1
    (ensure_mariadb) >/dev/null 2>&1 # subshell: its `die` must not end `down` here
}

# ---------------------------------------------------------------------------------------
# up
# ---------------------------------------------------------------------------------------
# One copy of WordPress serves all sites (wp-config-shared.php picks each site's own
# configuration from $WPL_SITE_CONFIG). The copy is kept between runs - it holds no
# secrets - and made again when the wordpress package changes: copying ~90 MB of small
# files is the slowest step of `up` (2-3 s here). Debian's tree has symlinks into other
# packages (getid3, JS libraries, /etc/wordpress/htaccess): -L copies their targets.
prepare_docroot() {
    local stamp
    # shellcheck disable=SC2016 # ${Version} is dpkg-query's format, not a shell expansion
    stamp="$(dpkg-query -W -f='${Version}' wordpress 2>/dev/null || true) $(sha1sum <"$WP_SRC/wp-includes/version.php")"
    if [[ ! -f $DOCROOT/.wpl-stamp || $(<"$DOCROOT/.wpl-stamp") != "$stamp" ]]; then
        log "copying $WP_SRC to $DOCROOT"
        rm -rf -- "$DOCROOT"
        cp -rL -- "$WP_SRC" "$DOCROOT"
        rm -f -- "$DOCROOT/.htaccess" # Apache only; the router does its job
        printf '%s\n' "$stamp" >"$DOCROOT/.wpl-stamp"
    fi
    # Ours, refreshed on every run (cheap) so edits to the helpers take effect.
    mkdir -p -- "$DOCROOT/wp-content/mu-plugins" "$DOCROOT/wp-content/uploads"
    cp -- "$HELPERS/wp-config-shared.php" "$DOCROOT/wp-config.php"
    cp -- "$HELPERS/mu-plugin-offline.php" "$DOCROOT/wp-content/mu-plugins/wpl-offline.php"
}

do_up() {
    local count=$1 base_port=$2
    local started i
    started="$(now)"

    ensure_packages
    ensure_mariadb

    if [[ -d $STATE_DIR ]]; then
        log "sites already recorded in $DIR: stopping them first"
        do_down
    fi

    for ((i = 0; i < count; i++)); do
        if port_in_use $((base_port + i)); then
            die "port $((base_port + i)) is already in use (by something that is not ours)"
        fi
    done

    mkdir -p -- "$DIR" "$STATE_DIR"
    chmod 700 "$STATE_DIR"

    # Databases and their user are named after DIR, so two DIRs never share them and a
    # leftover from a crashed run of this same DIR is simply replaced.
    local tag db_user db_pass sql
    tag="wpl_$(printf '%s' "$DIR" | sha1sum | cut -c1-10)"
    db_user=$tag
    db_pass="$(random_hex 16)"
    printf '%s\n' "$db_user" >"$STATE_DIR/db_user"
    : >"$STATE_DIR/dbs"
    sql="DROP USER IF EXISTS '$db_user'@'localhost', '$db_user'@'127.0.0.1';"
    sql+="CREATE USER '$db_user'@'localhost' IDENTIFIED BY '$db_pass';"
    sql+="CREATE USER '$db_user'@'127.0.0.1' IDENTIFIED BY '$db_pass';"
    for ((i = 1; i <= count; i++)); do
        local db_name="${tag}_wp$i"
        printf '%s\n' "$db_name" >>"$STATE_DIR/dbs"
        sql+="DROP DATABASE IF EXISTS \`$db_name\`;"
        sql+="CREATE DATABASE \`$db_name\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;"
        sql+="GRANT ALL PRIVILEGES ON \`$db_name\`.* TO '$db_user'@'localhost', '$db_user'@'127.0.0.1';"
    done
    # SQL on stdin, not argv: it contains the DB password.
    printf '%s\n' "$sql" | db

    prepare_docroot

    # Install every site; the installs run in parallel (each is a few hundred ms of PHP
    # and SQL).
    local pids=() site_dir port
    for ((i = 1; i <= count; i++)); do
        site_dir="$DIR/site$i"
        port=$((base_port + i - 1))
        rm -rf -- "$site_dir" "$DOCROOT/wp-content/uploads/wp$i"
        mkdir -m 700 -- "$site_dir"
        WPL_DB_PASSWORD="$db_pass" php "$HELPERS/install.php" \
            --docroot "$DOCROOT" --config "$site_dir/wp-config.php" \
            --site-id "wp$i" --port "$port" --title "Local WordPress $i" \
            --db-name "${tag}_wp$i" --db-user "$db_user" \
            --out "$site_dir/credentials.json" >"$site_dir/install.log" 2>&1 &
        pids+=("$!")
    done
    local failed=0
    for ((i = 1; i <= count; i++)); do
        if ! wait "${pids[i - 1]}"; then
            log "wp$i: install failed:"
            sed 's/^/    /' "$DIR/site$i/install.log" >&2
            failed=1
        fi
    done
    [[ $failed -eq 0 ]] || die "install failed; run '$0 down --dir $DIR' to clean up"

    # Start the servers (each log starts afresh), then wait until they are all ready.
    : >"$STATE_DIR/servers"
    local id
    for ((i = 1; i <= count; i++)); do
        id="wp$i"
        port=$((base_port + i - 1))
        : >"$DIR/site$i.log"
        launch_server "$id" "$port"
        printf '%s %s %s %s\n' "$id" "$port" "$LAUNCHED_PID" "${tag}_$id" >>"$STATE_DIR/servers"
    done
    local pid deadline
    deadline=$(($(date +%s) + 60))
    while read -r id port pid _; do
        wait_server_ready "$id" "$port" "$pid" "$deadline"
    done <"$STATE_DIR/servers"

    php "$HELPERS/write-sites.php" "$DIR"

    while read -r id port pid _; do
        print_site "$id" "$port"
    done <"$STATE_DIR/servers"
    log "$count site(s) up in $(elapsed_since "$started") s; config: $DIR/sites.yml, $DIR/sites.json"
}

# ---------------------------------------------------------------------------------------
# stop / start one site
# ---------------------------------------------------------------------------------------
do_stop() {
    local id=$1
    find_site "$id"
    if [[ $SITE_PID == - ]]; then
        log "$id: already stopped - nothing to do"
        return 0
    fi
    stop_servers <<<"$id $SITE_PORT $SITE_PID" || die "$id: server (pid $SITE_PID) still running after SIGKILL"
    record_pid "$id" -
    log "$id: stopped; its database and configuration are kept ('$0 start $id --dir $DIR' starts it again)"
}

do_start() {
    local id=$1 started
    started="$(now)"
    find_site "$id"
    if is_our_server "$SITE_PID" "$SITE_PORT"; then
        log "$id: already running (pid $SITE_PID) - nothing to do"
        print_site "$id" "$SITE_PORT"
        return 0
    fi
    [[ -f $DIR/site${id#wp}/wp-config.php && -f $DOCROOT/wp-config.php ]] ||
        die "$id: its configuration or $DOCROOT is missing; run '$0 up' again"
    if port_in_use "$SITE_PORT"; then
        die "port $SITE_PORT is already in use (by something that is not ours)"
    fi
    ensure_mariadb # e.g. after a reboot
    launch_server "$id" "$SITE_PORT"
    # Recorded before waiting, so that `stop`/`down` find the server even if it never
    # gets ready.
    record_pid "$id" "$LAUNCHED_PID"
    wait_server_ready "$id" "$SITE_PORT" "$LAUNCHED_PID" $(($(date +%s) + 60))
    print_site "$id" "$SITE_PORT"
    log "$id: started (pid $LAUNCHED_PID) in $(elapsed_since "$started") s"
}

# ---------------------------------------------------------------------------------------
# status
# ---------------------------------------------------------------------------------------
do_status() {
    if [[ ! -f $STATE_DIR/servers ]]; then
        echo "no sites recorded in $DIR"
        return 3
    fi
    local id port pid code all_up=0
    while read -r id port pid _; do
        if is_our_server "$pid" "$port"; then
            code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$port/wp-json/" || true)"
            if [[ $code == 200 ]]; then
                printf '%s up   http://127.0.0.1:%s/ (pid %s)\n' "$id" "$port" "$pid"
                continue
            fi
            printf '%s sick http://127.0.0.1:%s/ (pid %s, GET /wp-json/ -> %s)\n' "$id" "$port" "$pid" "$code"
        elif [[ $pid == - ]]; then
            printf '%s down http://127.0.0.1:%s/ (stopped)\n' "$id" "$port"
        else
            printf '%s down http://127.0.0.1:%s/\n' "$id" "$port"
        fi
        all_up=3
    done <"$STATE_DIR/servers"
    return "$all_up"
}

# ---------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------
[[ $# -ge 1 ]] || usage
CMD=$1
shift
COUNT=""
SITE_ID=""
BASE_PORT=8081
DIR="$PROJECT_ROOT/var/wordpress"
if [[ $CMD == up ]]; then
    [[ $# -ge 1 ]] || usage
    COUNT=$1
    shift
    [[ $COUNT =~ ^[1-9][0-9]*$ && $COUNT -le 100 ]] || die "N must be a number from 1 to 100"
elif [[ $CMD == start || $CMD == stop ]]; then
    [[ $# -ge 1 && $1 != -* ]] || usage
    SITE_ID=$1
    shift
    if [[ ! $SITE_ID =~ ^wp[1-9][0-9]*$ ]]; then
        log "error: unknown site '$SITE_ID' (SITE_ID looks like wp1, wp2, ...)"
        exit 2
    fi
fi
while [[ $# -gt 0 ]]; do
    case $1 in
        --base-port)
            [[ $# -ge 2 ]] || usage
            BASE_PORT=$2
            shift 2
            ;;
        --dir)
            [[ $# -ge 2 ]] || usage
            DIR=$2
            shift 2
            ;;
        -h | --help) usage ;;
        *) usage ;;
    esac
done
[[ $BASE_PORT =~ ^[1-9][0-9]*$ ]] || die "--base-port must be a number"
if [[ -n $COUNT ]] && ((BASE_PORT < 1024 || BASE_PORT + COUNT - 1 > 65535)); then
    die "ports $BASE_PORT..$((BASE_PORT + COUNT - 1)) are out of range"
fi
DIR="$(realpath -m -- "$DIR")"
STATE_DIR="$DIR/state"
DOCROOT="$DIR/htdocs"

case $CMD in
    up | down | start | stop)
        # Nothing to lock (or do) in a DIR that does not exist; `up` creates it.
        if [[ $CMD == up || -d $DIR ]]; then
            lock_dir
        fi
        ;;
esac
case $CMD in
    up) do_up "$COUNT" "$BASE_PORT" ;;
    down) do_down ;;
    status) do_status ;;
    start) do_start "$SITE_ID" ;;
    stop) do_stop "$SITE_ID" ;;
    *) usage ;;
esac
