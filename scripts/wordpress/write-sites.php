<?php
/**
 * Writes DIR/sites.yml (wpublisher's site configuration) and DIR/sites.json (for tests)
 * from what scripts/wordpress-local.sh recorded:
 *   DIR/state/servers            lines "ID PORT PID DB_NAME" (PID "-": site stopped)
 *   DIR/siteN/credentials.json   written by install.php (site id wpN)
 *
 *   php write-sites.php DIR
 *
 * Both files hold passwords: they are created with mode 600. sites.json's "pid" is the
 * site's PHP server, null while the site is stopped (`wordpress-local.sh stop wpN`).
 */

if (PHP_SAPI !== 'cli' || $argc !== 2) {
    fwrite(STDERR, "usage: php write-sites.php DIR\n");
    exit(2);
}
$dir = rtrim($argv[1], '/');

$lines = file("$dir/state/servers", FILE_IGNORE_NEW_LINES | FILE_SKIP_EMPTY_LINES);
if ($lines === false || $lines === []) {
    fwrite(STDERR, "write-sites.php: no servers recorded in $dir/state/servers\n");
    exit(1);
}

$sites = [];
foreach ($lines as $line) {
    [$id, $port, $pid, $db_name] = preg_split('/\s+/', trim($line));
    $creds_file = "$dir/site" . substr($id, 2) . '/credentials.json'; // wpN -> siteN
    $creds = is_readable($creds_file) ? json_decode((string) file_get_contents($creds_file), true) : null;
    if (!is_array($creds)) {
        fwrite(STDERR, "write-sites.php: cannot read $creds_file\n");
        exit(1);
    }
    $sites[] = [
        'id' => $id,
        'api_url' => $creds['api_url'],
        'base_url' => $creds['base_url'],
        'port' => (int) $port,
        'username' => $creds['username'],
        'app_password' => $creds['app_password'],
        'admin_password' => $creds['admin_password'],
        'pid' => preg_match('/^[1-9][0-9]*$/', $pid) ? (int) $pid : null,
        'db_name' => $db_name,
    ];
}

// A JSON string is a valid YAML double-quoted scalar, which gives correct quoting for free.
$q = static function ($value) {
    return json_encode((string) $value, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE);
};

$yml = "sites:\n";
foreach ($sites as $n => $site) {
    $yml .= '  - id: ' . $q($site['id']) . "\n"
        . '    name: ' . $q('Local WordPress ' . ($n + 1)) . "\n"
        . '    api_url: ' . $q($site['api_url']) . "\n"
        . '    username: ' . $q($site['username']) . "\n"
        . '    app_password: ' . $q($site['app_password']) . "\n"
        . '    default_category: ' . $q('Uncategorized') . "\n"
        . "    connection_pool:\n"
        . "      max_connections: 5\n"
        . "      idle_timeout: 300\n"
        . "    health_check_interval: 60\n";
}
$yml .= "publishing:\n"
    . '  default_status: ' . $q('publish') . "\n"
    . "  max_concurrent_publishes: 5\n"
    . "  retry_attempts: 3\n"
    . "  retry_delay: 30\n"
    . "  timeout: 120\n";

$json = json_encode($sites, JSON_PRETTY_PRINT | JSON_UNESCAPED_SLASHES) . "\n";

umask(077);
foreach (['sites.yml' => $yml, 'sites.json' => $json] as $name => $content) {
    // Write then rename, so a reader never sees a half-written file.
    $tmp = "$dir/.$name.tmp";
    if (file_put_contents($tmp, $content) === false || !chmod($tmp, 0600) || !rename($tmp, "$dir/$name")) {
        fwrite(STDERR, "write-sites.php: cannot write $dir/$name\n");
        exit(1);
    }
}
