"""Shared fixtures: a config directory the tests write YAML into, and fast bcrypt."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from agents import services as agent_services
from configuration.reload import config_reload
from core.config.state import config_current, config_state_reset
from core.keys import key_generate


@pytest.fixture(autouse=True)
def _fast_bcrypt(settings) -> None:
    # Cost 12 takes ~200 ms a hash; the rounds do not change behaviour, only time.
    settings.API_KEY_BCRYPT_ROUNDS = 4


@pytest.fixture(autouse=True)
def _fresh_process_state():
    """Each test starts like a new process: no running config, an empty key cache, an empty cache."""
    from django.core.cache import caches

    config_state_reset()
    agent_services._verified.clear()
    agent_services._marked_seen.clear()
    for alias in ("default", "counters"):
        caches[alias].clear()
    yield
    config_state_reset()
    agent_services._verified.clear()
    agent_services._marked_seen.clear()


def new_key() -> str:
    return key_generate()[1]


def agent_entry(agent_id: str, *, key: str | None = None, **extra: Any) -> dict:
    entry = {
        "id": agent_id,
        "name": f"Agent {agent_id}",
        "role": "content-creator",
        "api_key": key or new_key(),
    }
    entry.update(extra)
    return entry


def site_entry(site_id: str, **extra: Any) -> dict:
    entry = {
        "id": site_id,
        "name": f"Site {site_id}",
        "api_url": f"http://127.0.0.1:9/{site_id}/wp-json/wp/v2",
        "username": "publisher",
        "app_password": f"pw{site_id} abcd efgh ijkl mnop qrst",
    }
    entry.update(extra)
    return entry


class ConfigFiles:
    """Writes agents.yml / sites.yml / system.yml / api_keys.txt into a temporary config directory."""

    def __init__(self, path: Path):
        self.path = path

    def write(
        self,
        *,
        agents: list[dict] | None = None,
        sites: list[dict] | None = None,
        system: dict | None = None,
        api_keys: str | None = None,
        **top_level: Any,
    ) -> None:
        if agents is not None:
            agents_doc = {"agents": agents, **{k: v for k, v in top_level.items() if k == "global_settings"}}
            self.write_text("agents.yml", yaml.safe_dump(agents_doc, sort_keys=False))
        if sites is not None:
            sites_doc = {"sites": sites, **{k: v for k, v in top_level.items() if k == "publishing"}}
            self.write_text("sites.yml", yaml.safe_dump(sites_doc, sort_keys=False))
        if system is not None:
            self.write_text("system.yml", yaml.safe_dump(system, sort_keys=False))
        if api_keys is not None:
            self.write_text("api_keys.txt", api_keys)

    def write_text(self, name: str, text: str) -> None:
        (self.path / name).write_text(text)


@pytest.fixture
def queued(monkeypatch) -> list[int]:
    """Publish tasks queued by the services, recorded instead of sent (the task itself is tested with the
    publishing pipeline)."""
    sent: list[int] = []
    monkeypatch.setattr("articles.tasks.publish_article.delay", lambda article_id: sent.append(article_id))
    return sent


@pytest.fixture
def eager():
    """Celery runs tasks in the calling process, retries included (countdowns are skipped)."""
    from wpublisher.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


@pytest.fixture
def config_files(tmp_path, settings) -> ConfigFiles:
    path = tmp_path / "config"
    path.mkdir()
    settings.CONFIG_DIR = path
    return ConfigFiles(path)


@pytest.fixture
def loaded_config(db, config_files) -> Callable[..., Any]:
    """Write config files and load them as the web process does (validated, synced, swapped in)."""

    def load(**files: Any):
        config_files.write(**files)
        result = config_reload(sync=True)
        assert result.ok, result.messages
        return config_current()

    return load


@pytest.fixture(scope="session")
def real_wordpress(tmp_path_factory):
    """Three real WordPress sites for the session (wp1, wp2, wp3). Skipped where they cannot be stood
    up, unless WPUBLISHER_REQUIRE_WORDPRESS=1 (CI), where that fails the run."""
    from tests.support.wordpress import REQUIRED, LocalWordPress

    wordpress = LocalWordPress(tmp_path_factory.mktemp("wordpress"), count=3)
    try:
        wordpress.up()
    except Exception as error:
        wordpress.down()
        if REQUIRED:
            raise
        pytest.skip(f"no local WordPress: {error}")
    yield wordpress
    wordpress.down()
