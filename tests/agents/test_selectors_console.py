"""The agent selectors behind the console."""

from __future__ import annotations

import pytest

from agents.selectors import agent_id_list
from tests.factories import AgentFactory

pytestmark = pytest.mark.django_db


def test_the_queue_filter_offers_every_agent_sorted_inactive_ones_too():
    for agent_id in ("writer", "editor", "archived"):
        AgentFactory(id=agent_id, is_active=agent_id != "archived")
    assert agent_id_list() == ["archived", "editor", "writer"]
