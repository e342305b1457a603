<?php
/**
 * Router for PHP's built-in web server (`php -S 127.0.0.1:PORT -t DOCROOT router.php`),
 * playing the part of Apache's mod_rewrite + WordPress .htaccess:
 *
 *   - an existing static file is served as-is by the built-in server (return false);
 *   - an existing .php file (wp-login.php, wp-admin/*.php, ...) is executed directly;
 *   - everything else (pretty permalinks, /wp-json/...) goes through index.php.
 *
 * HTTP Basic credentials: WordPress reads them from $_SERVER['PHP_AUTH_USER'] and
 * ['PHP_AUTH_PW'] (application passwords). PHP 8.2's built-in server already fills those
 * from the Authorization header (and also passes the raw header as HTTP_AUTHORIZATION),
 * unlike e.g. Apache + CGI/FPM. Should a SAPI only expose the raw header, we decode it
 * here, like the "RewriteRule .* - [E=HTTP_AUTHORIZATION:%{HTTP:Authorization}]" trick.
 *
 * This file runs in the global scope on purpose: WordPress must be loaded from the global
 * scope, so it is required from here and not from inside a function. Variable names are
 * prefixed to avoid clobbering WordPress globals.
 */

if (!isset($_SERVER['PHP_AUTH_USER'])) {
    $wpl_auth = $_SERVER['HTTP_AUTHORIZATION'] ?? ($_SERVER['REDIRECT_HTTP_AUTHORIZATION'] ?? '');
    if (strncasecmp($wpl_auth, 'Basic ', 6) === 0) {
        $wpl_decoded = base64_decode(trim(substr($wpl_auth, 6)), true);
        if (is_string($wpl_decoded) && strpos($wpl_decoded, ':') !== false) {
            [$_SERVER['PHP_AUTH_USER'], $_SERVER['PHP_AUTH_PW']] = explode(':', $wpl_decoded, 2);
        }
    }
    unset($wpl_auth, $wpl_decoded);
}

$wpl_root = rtrim(realpath($_SERVER['DOCUMENT_ROOT']), '/');
$wpl_path = rawurldecode((string) parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH));
$wpl_file = realpath($wpl_root . $wpl_path);

// Only consider paths that really are inside the document root.
if ($wpl_file !== false && strpos($wpl_file . '/', $wpl_root . '/') !== 0) {
    $wpl_file = false;
}

if ($wpl_file !== false && is_dir($wpl_file) && $wpl_file !== $wpl_root) {
    if (substr($wpl_path, -1) !== '/') {
        // Like Apache: /wp-admin -> /wp-admin/ so that relative links work.
        $wpl_query = (string) parse_url($_SERVER['REQUEST_URI'], PHP_URL_QUERY);
        header('Location: ' . $wpl_path . '/' . ($wpl_query !== '' ? '?' . $wpl_query : ''), true, 301);
        return true;
    }
    $wpl_file = is_file($wpl_file . '/index.php') ? $wpl_file . '/index.php' : false;
    $wpl_path = rtrim($wpl_path, '/') . '/index.php';
}

if ($wpl_file !== false && is_file($wpl_file) && $wpl_file !== $wpl_root . '/index.php') {
    if (substr($wpl_file, -4) !== '.php') {
        return false; // static asset: let the built-in server send it (with its MIME type)
    }
    $wpl_script = $wpl_file;
    $wpl_script_name = $wpl_path;
} else {
    // Front controller: pretty permalinks and the REST API (/wp-json/...).
    $wpl_script = $wpl_root . '/index.php';
    $wpl_script_name = '/index.php';
}

$_SERVER['SCRIPT_FILENAME'] = $wpl_script;
$_SERVER['SCRIPT_NAME'] = $wpl_script_name;
$_SERVER['PHP_SELF'] = $wpl_script_name;
unset($_SERVER['PATH_INFO'], $_SERVER['ORIG_PATH_INFO']);
chdir(dirname($wpl_script));
unset($wpl_root, $wpl_path, $wpl_file, $wpl_script_name);
require $wpl_script;
