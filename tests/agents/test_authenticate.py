"""Key verification: valid, wrong, revoked, rotated with an overlap, removed from YAML, agent inactive."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from agents.exceptions import AgentNotFound, AuthFailed
from agents.models import Agent, ApiKey
from agents.services import agent_authenticate, agent_authenticate_cached, agent_key_revoke, agent_key_rotate
from audit.models import AuditLog
from configuration.reload import config_reload
from core import keys as key_module
from tests.conftest import agent_entry, new_key, site_entry
from tests.factories import TEST_ACTOR

pytestmark = pytest.mark.django_db


@pytest.fixture
def writer_key(loaded_config) -> str:
    key = new_key()
    loaded_config(agents=[agent_entry("writer", key=key), agent_entry("seo")], sites=[site_entry("blog")])
    return key


@pytest.fixture
def bcrypt_calls(monkeypatch) -> list[str]:
    calls: list[str] = []
    real = key_module.key_check

    def counting(key, hashed):
        calls.append(hashed)
        return real(key, hashed)

    monkeypatch.setattr("agents.services.key_check", counting)
    return calls


def test_a_valid_key_names_its_agent_and_marks_it_seen(writer_key):
    agent = agent_authenticate(token=writer_key, ip_address="127.0.0.1")
    assert agent.id == "writer"
    assert Agent.objects.get(pk="writer").last_seen is not None
    key = ApiKey.objects.get(agent_id="writer")
    assert key.last_used_at is not None
    success = AuditLog.objects.get(event_type="auth_succeeded")
    assert (success.agent_id, success.ip_address) == ("writer", "127.0.0.1")


@pytest.mark.parametrize("token", ["", "nope", "wpk_aaaaaaaaaaaa_" + "b" * 43])
def test_unknown_keys_fail_and_are_audited_without_the_key(writer_key, token):
    with pytest.raises(AuthFailed) as raised:
        agent_authenticate(token=token, ip_address="10.1.2.3")
    assert raised.value.code == "AUTH_FAILED"
    failure = AuditLog.objects.get(event_type="auth_failed")
    assert failure.ip_address == "10.1.2.3" and failure.metadata["reason"] == "unknown key"
    if token:
        assert token not in failure.message and token not in str(failure.metadata)


def test_a_wrong_secret_with_a_real_key_id_fails(loaded_config):
    loaded_config(agents=[agent_entry("writer")], sites=[site_entry("blog")])
    _, token = agent_key_rotate(agent_id="writer", grace_seconds=0, actor=TEST_ACTOR)
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(AuthFailed):
        agent_authenticate(token=forged)
    assert agent_authenticate(token=token).id == "writer"


def test_steady_state_verification_skips_bcrypt_but_still_sees_revocation(
    writer_key, bcrypt_calls, django_capture_on_commit_callbacks, django_assert_num_queries
):
    config_reload_keys = len(bcrypt_calls)  # the sync seeded the cache: not even the first use runs bcrypt
    agent_authenticate(token=writer_key)
    agent_authenticate(token=writer_key)
    assert len(bcrypt_calls) == config_reload_keys == 0
    with django_assert_num_queries(0):  # keys and agent come from the cache, and nothing is written
        assert agent_authenticate_cached(token=writer_key).id == "writer"
    with django_capture_on_commit_callbacks(execute=True):  # the cache forgets the key when the revocation commits
        agent_key_revoke(agent_id="writer", actor=TEST_ACTOR)
    assert agent_authenticate_cached(token=writer_key) is None
    with pytest.raises(AuthFailed) as raised:
        agent_authenticate(token=writer_key)
    assert raised.value.reason == "key revoked"


def test_a_process_that_did_not_sync_verifies_once_with_bcrypt(writer_key, bcrypt_calls):
    from agents import services

    services._verified.clear()  # as in a worker or a second web process
    agent_authenticate(token=writer_key)
    agent_authenticate(token=writer_key)
    agent_authenticate(token=writer_key)
    assert len(bcrypt_calls) == 1


def test_rotation_keeps_the_old_key_during_the_grace_then_stops_it(writer_key, monkeypatch):
    _, new_token = agent_key_rotate(agent_id="writer", grace_seconds=3600, actor=TEST_ACTOR)
    assert agent_authenticate(token=writer_key).id == "writer"
    assert agent_authenticate(token=new_token).id == "writer"
    # The grace ends (the cached keys are not re-read: expiry is checked on every use).
    later = timezone.now() + timedelta(seconds=3601)
    monkeypatch.setattr(timezone, "now", lambda: later)
    with pytest.raises(AuthFailed) as raised:
        agent_authenticate(token=writer_key)
    assert raised.value.reason == "key expired"
    assert agent_authenticate(token=new_token).id == "writer"
    assert AuditLog.objects.filter(event_type="key_rotated", agent_id="writer").count() == 1


def test_rotation_with_no_grace_stops_the_old_key_at_once(writer_key):
    _, new_token = agent_key_rotate(agent_id="writer", grace_seconds=0, actor=TEST_ACTOR)
    with pytest.raises(AuthFailed):
        agent_authenticate(token=writer_key)
    assert agent_authenticate(token=new_token).id == "writer"


def test_a_key_removed_from_yaml_fails_on_its_next_use(writer_key, config_files, django_capture_on_commit_callbacks):
    assert agent_authenticate(token=writer_key).id == "writer"
    replacement = new_key()
    config_files.write(agents=[agent_entry("writer", key=replacement), agent_entry("seo")])
    with django_capture_on_commit_callbacks(execute=True):
        assert config_reload().ok
    with pytest.raises(AuthFailed) as raised:
        agent_authenticate(token=writer_key)
    assert raised.value.reason == "key revoked"
    assert agent_authenticate(token=replacement).id == "writer"
    # Put back in the file, the key works again.
    config_files.write(agents=[agent_entry("writer", key=writer_key), agent_entry("seo")])
    with django_capture_on_commit_callbacks(execute=True):
        assert config_reload().ok
    assert agent_authenticate(token=writer_key).id == "writer"


def test_a_key_revoked_by_a_person_stays_revoked_across_reloads(writer_key, config_files):
    agent_key_revoke(agent_id="writer", actor=TEST_ACTOR)
    config_files.write(agents=[agent_entry("writer", key=writer_key)], sites=[site_entry("blog"), site_entry("other")])
    assert config_reload().ok
    with pytest.raises(AuthFailed):
        agent_authenticate(token=writer_key)


def test_an_agent_removed_from_yaml_is_inactive_and_its_key_fails(writer_key, config_files):
    config_files.write(agents=[agent_entry("seo")])
    assert config_reload().ok
    assert not Agent.objects.get(pk="writer").is_active
    with pytest.raises(AuthFailed):
        agent_authenticate(token=writer_key)


def test_literal_keys_of_the_seed_form_work(loaded_config):
    seed_key = "sk-aw-8f9e7d6c5b4a3210fedcba9876543210"
    loaded_config(agents=[agent_entry("ai-writer-001", key=seed_key)], sites=[site_entry("blog")])
    assert agent_authenticate(token=seed_key).id == "ai-writer-001"


def test_keys_given_as_hashes_and_in_api_keys_txt_work(loaded_config):
    hashed_key, listed_key = new_key(), new_key()
    spec = key_module.hash_spec_format(key_module.key_lookup_id(hashed_key), key_module.key_hash(hashed_key, rounds=4))
    hashed_agent = {"id": "hashed", "name": "H", "role": "editor", "api_key_hash": spec}
    loaded_config(
        agents=[hashed_agent],
        sites=[site_entry("blog")],
        api_keys=f"{listed_key}:listed:article:submit,article:read,article:review\n",
    )
    assert agent_authenticate(token=hashed_key).id == "hashed"
    listed = agent_authenticate(token=listed_key)
    assert listed.id == "listed" and listed.scopes == ["article:submit", "article:read", "article:review"]


def test_rotating_an_unknown_agent_names_it(writer_key):
    with pytest.raises(AgentNotFound, match="agent 'ghost' not found or inactive"):
        agent_key_rotate(agent_id="ghost", actor=TEST_ACTOR)


def test_keys_are_stored_only_as_hashes(writer_key):
    for row in ApiKey.objects.values():
        assert writer_key not in str(row)
