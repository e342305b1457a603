"""Real WordPress sites for tests, stood up by scripts/wordpress-local.sh (Debian's WordPress on PHP's
built-in server, MariaDB). Tests talk to them with requests to check what wpublisher did."""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "wordpress-local.sh"
# CI sets this so that a WordPress that cannot be stood up fails the run instead of skipping its tests.
REQUIRED = os.environ.get("WPUBLISHER_REQUIRE_WORDPRESS") == "1"


def _free_port_run(count: int) -> int:
    """A base port with `count` free ports after it."""
    for _ in range(50):
        base = random.randint(20000, 40000)  # a port, not a secret
        try:
            sockets = []
            for port in range(base, base + count):
                sock = socket.socket()
                sock.bind(("127.0.0.1", port))
                sockets.append(sock)
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
        return base
    raise RuntimeError("no free port range")


class LocalWordPress:
    def __init__(self, directory: Path, count: int):
        self.directory = directory
        self.count = count
        self.sites: dict[str, dict] = {}

    def _script(self, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(SCRIPT), *args, "--dir", str(self.directory)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def up(self) -> None:
        result = self._script("up", str(self.count), "--base-port", str(_free_port_run(self.count)))
        if result.returncode != 0:
            raise RuntimeError(f"wordpress-local.sh up failed:\n{result.stderr[-3000:]}")
        self._load()

    def _load(self) -> None:
        data = json.loads((self.directory / "sites.json").read_text())
        self.sites = {site["id"]: site for site in data}

    def down(self) -> None:
        self._script("down", timeout=120)

    def stop(self, site_id: str) -> None:
        result = self._script("stop", site_id, timeout=120)
        assert result.returncode == 0, result.stderr
        self._load()

    def start(self, site_id: str) -> None:
        result = self._script("start", site_id, timeout=120)
        assert result.returncode == 0, result.stderr
        self._load()

    def site_entry(self, site_id: str, **overrides) -> dict:
        """The sites.yml entry for a site."""
        site = self.sites[site_id]
        entry = {
            "id": site_id,
            "name": f"WordPress {site_id}",
            "api_url": site["api_url"],
            "username": site["username"],
            "app_password": site["app_password"],
        }
        return {**entry, **overrides}

    def _auth(self, site_id: str) -> tuple[str, str]:
        return self.sites[site_id]["username"], self.sites[site_id]["app_password"]

    def get(self, site_id: str, path: str, **params) -> object:
        response = requests.get(
            self.sites[site_id]["api_url"] + path, params=params, auth=self._auth(site_id), timeout=30
        )
        response.raise_for_status()
        return response.json()

    def post(self, site_id: str, path: str, payload: dict) -> dict:
        response = requests.post(
            self.sites[site_id]["api_url"] + path, json=payload, auth=self._auth(site_id), timeout=30
        )
        response.raise_for_status()
        return response.json()

    def posts_with_slug(self, site_id: str, slug: str) -> list[dict]:
        return self.get(site_id, "/posts", slug=slug, status="any", context="edit")

    def parse_blocks(self, site_id: str, post_id: int) -> list[dict]:
        """WordPress's own `parse_blocks()` of the post's stored content, run by PHP against the site (the
        configuration its server uses), as JSON: blocks with blockName, attrs, innerBlocks, innerHTML."""
        code = (
            "define('WP_USE_THEMES', false);"
            "$_SERVER['HTTP_HOST'] = '127.0.0.1:' . $argv[2];"
            "require $argv[1] . '/wp-load.php';"
            "echo json_encode(parse_blocks(get_post((int) $argv[3])->post_content));"
        )
        site = self.sites[site_id]
        result = subprocess.run(
            ["php", "-r", code, "--", str(self.directory / "htdocs"), str(site["port"]), str(post_id)],
            env={**os.environ, "WPL_SITE_CONFIG": str(self.directory / f"site{site_id[2:]}" / "wp-config.php")},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)
