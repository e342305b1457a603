#!/usr/bin/env bash
# Stand up N real WordPress sites on 127.0.0.1 for wpublisher's tests and benchmarks.
#
#   scripts/wordpress-local.sh up N [--base-port 8081] [--dir DIR]
#   scripts/wordpress-local.sh down [--dir DIR]
#   scripts/wordpress-local.sh status [--dir DIR]
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
EOF
    exit 2
}

# Random hex string; read from the kernel so no PHP/Python start-up is needed.
random_hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }

now() { date +%s.%N; }

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
    start-stop-daemon --start --oknodo --background --exec "$MARIADBD" -- --user=mysql
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

# True if PID is the `php -S 127.0.0.1:PORT` server that we started (PIDs get reused, so
# we never signal a PID from the state file without checking what it is now).
is_our_server() {
    local pid=$1 port=$2 cmdline
    [[ -r /proc/$pid/cmdline ]] || return 1
    cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
    [[ $cmdline == *php* && $cmdline == *"-S 127.0.0.1:$port "* ]]
}

# Process group of PID (field 5 of /proc/PID/stat; the command name in field 2 has no
# spaces for php, so plain word splitting is fine).
pgid_of() { awk '{print $5}' "/proc/$1/stat" 2>/dev/null; }

# Stop the recorded servers, all at once. Each one was started with setsid, so it leads
# its own process group that also holds its PHP_CLI_SERVER_WORKERS children: we signal
# the group, i.e. exactly our processes. (Signalling only the master is not enough: on
# SIGTERM it exits but leaves its workers running.) SIGINT, what Ctrl-C would send, ends
# a php -S group faster than SIGTERM (~1.3 s against ~2 s for a WordPress site here);
# SIGKILL is the last resort.
stop_servers() {
    local id port pid _rest targets=() target sig i
    while read -r id port pid _rest; do
        [[ -n ${id:-} ]] || continue
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
    done <"$STATE_DIR/servers"
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
}

do_down() {
    if [[ ! -d $STATE_DIR ]]; then
        log "nothing recorded in $DIR"
        return 0
    fi
    local db_name
    if [[ -f $STATE_DIR/servers ]]; then
        stop_servers
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

    # Start the servers. setsid: own session and process group, so the server survives
    # the caller's terminal/CI step and `down` can stop it with all its workers; nohup
    # for the same reason when setsid is not enough (SIGHUP). stdin/stdout/stderr are
    # detached, or a caller reading our output through a pipe would wait forever.
    : >"$STATE_DIR/servers"
    local pid
    for ((i = 1; i <= count; i++)); do
        port=$((base_port + i - 1))
        WPL_SITE_CONFIG="$DIR/site$i/wp-config.php" PHP_CLI_SERVER_WORKERS=4 setsid nohup \
            php -S "127.0.0.1:$port" -t "$DOCROOT" "$HELPERS/router.php" \
            >"$DIR/site$i.log" 2>&1 </dev/null &
        pid=$!
        printf 'wp%s %s %s %s\n' "$i" "$port" "$pid" "${tag}_wp$i" >>"$STATE_DIR/servers"
    done

    # Ready = GET /wp-json/ answers 200 (WordPress loaded, DB reachable, REST routed).
    local code deadline
    deadline=$(($(date +%s) + 60))
    while read -r id port pid _; do
        while :; do
            code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$port/wp-json/" || true)"
            [[ $code == 200 ]] && break
            if ! kill -0 "$pid" 2>/dev/null; then
                tail -n 20 "$DIR/site${id#wp}.log" >&2 || true
                die "$id: PHP server exited; see $DIR/site${id#wp}.log"
            fi
            (($(date +%s) < deadline)) || die "$id: no 200 from http://127.0.0.1:$port/wp-json/ (last: $code)"
            sleep 0.1
        done
    done <"$STATE_DIR/servers"

    php "$HELPERS/write-sites.php" "$DIR"

    while read -r id port pid _; do
        printf '%s http://127.0.0.1:%s/ (REST: http://127.0.0.1:%s/wp-json/wp/v2)\n' "$id" "$port" "$port"
    done <"$STATE_DIR/servers"
    log "$count site(s) up in $(awk -v a="$started" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }') s; config: $DIR/sites.yml, $DIR/sites.json"
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
BASE_PORT=8081
DIR="$PROJECT_ROOT/var/wordpress"
if [[ $CMD == up ]]; then
    [[ $# -ge 1 ]] || usage
    COUNT=$1
    shift
    [[ $COUNT =~ ^[1-9][0-9]*$ && $COUNT -le 100 ]] || die "N must be a number from 1 to 100"
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
    up) do_up "$COUNT" "$BASE_PORT" ;;
    down) do_down ;;
    status) do_status ;;
    *) usage ;;
esac
