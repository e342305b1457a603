<?php
/**
 * wp-config.php of the document root that all local sites share (copied there by
 * scripts/wordpress-local.sh; it replaces Debian's, which reads /etc/wordpress/config-HOST.php).
 *
 * Each `php -S` server (and install.php) names its own site's configuration - DB, salts,
 * WP_HOME, uploads folder - in the environment variable WPL_SITE_CONFIG. One copy of
 * WordPress thus serves N sites, so `up N` copies ~90 MB once instead of N times.
 */
$wpl_site_config = getenv('WPL_SITE_CONFIG');
if (!is_string($wpl_site_config) || $wpl_site_config === '' || !is_file($wpl_site_config)) {
    if (PHP_SAPI !== 'cli') {
        header('Content-Type: text/plain', true, 500);
    }
    echo "WPL_SITE_CONFIG does not name a site configuration; start sites with scripts/wordpress-local.sh\n";
    exit(1);
}
require $wpl_site_config;
unset($wpl_site_config);
