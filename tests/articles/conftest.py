from __future__ import annotations

import pytest

from agents.models import Agent
from tests.conftest import agent_entry, site_entry
from tests.sites.fake_wordpress import FakeWordPress


@pytest.fixture
def fake_wp():
    server = FakeWordPress().start()
    yield server
    server.stop()


@pytest.fixture
def blog(loaded_config, fake_wp, eager):
    """Load a config whose one site, "blog", is the fake WordPress (with `fields` as sites.yml would set
    them); the writer agent it loads."""

    def load(**fields) -> Agent:
        entry = site_entry("blog", api_url=fake_wp.api_url, app_password=fake_wp.password, **fields)
        loaded_config(agents=[agent_entry("writer")], sites=[entry], publishing={"timeout": 3})
        return Agent.objects.get(pk="writer")

    return load
