<?php
/**
 * Plugin Name: wpublisher tests: slow post creation
 * Description: Installed by tests only. A post whose title contains "[slow-create N]" takes N seconds
 *              to be created (before it is saved), as on a site whose plugins are slow; updates and
 *              revisions are not slowed.
 */

add_filter('wp_insert_post_data', static function ($data, $postarr) {
    if (empty($postarr['ID']) && 'post' === $data['post_type']
        && preg_match('/\[slow-create (\d+)\]/', (string) $data['post_title'], $match)) {
        sleep((int) $match[1]);
    }
    return $data;
}, 10, 2);
