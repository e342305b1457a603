<?php
/**
 * Plugin Name: wpublisher local offline guard
 * Description: Installed by scripts/wordpress-local.sh. Local test sites have no internet:
 *              never call out to wordpress.org (or anywhere else), never send mail.
 */

// Belt and braces on top of WP_HTTP_BLOCK_EXTERNAL: refuse any HTTP request to a host
// that is not this machine, before WP_Http even tries to resolve it.
add_filter('pre_http_request', static function ($pre, $args, $url) {
    if (false !== $pre) {
        return $pre;
    }
    $host = strtolower((string) wp_parse_url($url, PHP_URL_HOST));
    if (in_array(trim($host, '[]'), ['127.0.0.1', 'localhost', '::1'], true)) {
        return $pre;
    }
    return new WP_Error('wpl_http_blocked', 'External HTTP is disabled on this local test site (' . $host . ').');
}, 1, 3);

// No update checks: drop the hooks that schedule or run them (registered by
// wp-includes/update.php, which loads before mu-plugins) and answer the
// "is there an update?" transients from here so nothing ever asks wordpress.org.
foreach ([
    'init' => ['wp_schedule_update_checks', 'wp_schedule_https_detection'],
    'admin_init' => ['_maybe_update_core', '_maybe_update_plugins', '_maybe_update_themes'],
    'wp_version_check' => ['wp_version_check'],
    'wp_update_plugins' => ['wp_update_plugins'],
    'wp_update_themes' => ['wp_update_themes'],
    'wp_maybe_auto_update' => ['wp_maybe_auto_update'],
    'load-plugins.php' => ['wp_update_plugins'],
    'load-themes.php' => ['wp_update_themes'],
    'load-update.php' => ['wp_update_plugins', 'wp_update_themes'],
    'load-update-core.php' => ['wp_update_plugins', 'wp_update_themes'],
] as $wpl_hook => $wpl_callbacks) {
    foreach ($wpl_callbacks as $wpl_callback) {
        remove_action($wpl_hook, $wpl_callback);
    }
}
unset($wpl_hook, $wpl_callbacks, $wpl_callback);

$wpl_no_updates = static function () {
    global $wp_version;
    return (object) [
        'last_checked' => time(),
        'version_checked' => $wp_version,
        'updates' => [],
        'translations' => [],
        'response' => [],
        'checked' => [],
    ];
};
add_filter('pre_site_transient_update_core', $wpl_no_updates);
add_filter('pre_site_transient_update_plugins', $wpl_no_updates);
add_filter('pre_site_transient_update_themes', $wpl_no_updates);
unset($wpl_no_updates);

// No mail server here: short-circuit wp_mail() instead of letting PHPMailer fail.
add_filter('pre_wp_mail', '__return_false');
