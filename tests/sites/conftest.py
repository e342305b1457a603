from __future__ import annotations

import pytest

from tests.sites.fake_wordpress import FakeWordPress


@pytest.fixture
def fake_wp():
    server = FakeWordPress().start()
    yield server
    server.stop()
