"""Writes for agents and their API keys: authentication, key lifecycle, and the sync from config."""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from agents.actors import Actor
from agents.exceptions import AgentNotFound, AuthFailed
from agents.models import Agent, ApiKey, KeySource
from agents.selectors import agent_config_get
from audit.models import EventType, Severity
from audit.services import audit_record
from core.cache import (
    AuthMemo,
    agent_config_key,
    agent_stats_key,
    api_key_key,
    auth_generation,
    cached_many,
    fill,
    invalidate,
)
from core.config.editor import config_agent_key_hash
from core.config.state import global_settings
from core.config.types import AgentConfig
from core.exceptions import ValidationFailed
from core.keys import (
    key_candidate_ids,
    key_check,
    key_digest,
    key_dummy_hash,
    key_generate,
    key_hash,
    key_legacy_lookup_id,
)

logger = logging.getLogger(__name__)

REMOVED_FROM_CONFIG = "removed from config"
# last_seen / last_used_at are written at most this often per key, not on every request.
LAST_SEEN_INTERVAL = timedelta(seconds=60)

# Verified keys, per ApiKey row: (stored hash, SHA-256 of the key). A hit skips bcrypt (about 200 ms).
_verified: dict[int, tuple[str, bytes]] = {}
# When this process last marked each key (by row id) as used, so that it writes at most once a minute.
_marked_seen: dict[int, float] = {}
# (key, agent) by SHA-256 of the token, while the auth generation holds (read-only: never change one).
_authenticated_memo = AuthMemo()
# In the key cache, a candidate lookup id under which no key is stored.
_NO_KEY = "none"


def _remember_verified(key: ApiKey, digest: bytes) -> None:
    _verified[key.pk] = (key.key_hash, digest)


def _verified_digest(key: ApiKey) -> bytes | None:
    """The SHA-256 of `key` when this process has verified it against the hash still stored."""
    cached = _verified.get(key.pk)
    return cached[1] if cached and cached[0] == key.key_hash else None


def _stored_keys(key_ids: list[str], *, cache_only: bool) -> list[ApiKey] | None:
    """The stored keys under the candidate `key_ids` (from the cache, else the database; None when
    `cache_only` and the cache does not hold them all). Ids with no key are cached as such only beside
    one that has a key, so that random tokens do not fill the cache."""
    entries = cached_many(api_key_key(i) for i in key_ids)
    missing = [i for i in key_ids if api_key_key(i) not in entries]
    if missing:
        if cache_only:
            return None
        rows = {row.key_id: row for row in ApiKey.objects.filter(key_id__in=missing).order_by()}
        for key_id in missing:
            entries[api_key_key(key_id)] = rows.get(key_id, _NO_KEY)
            if rows:
                fill(api_key_key(key_id), entries[api_key_key(key_id)])
    return [entry for entry in entries.values() if entry != _NO_KEY]


def _authenticate(token: str, *, now: datetime, cache_only: bool) -> tuple[ApiKey | None, Agent | None, str | None]:
    """(key, agent, why it fails); with `cache_only`, (None, None, None) when the cache cannot tell.

    A token that matches no stored key costs exactly one bcrypt check, whether its key id is unknown, known
    and verified before in this process, or known and not: the time of a failure tells nothing about key
    ids, and no guess is cheaper than another."""
    undecided = (None, None, None)
    keys = _stored_keys(key_candidate_ids(token or ""), cache_only=cache_only) if token else []
    if keys is None:
        return undecided
    digest, key, bcrypt_checked = key_digest(token), None, False
    for candidate in keys:
        verified = _verified_digest(candidate)
        if verified is not None:
            matches = hmac.compare_digest(verified, digest)
        elif cache_only:
            return undecided
        else:
            bcrypt_checked = True
            matches = key_check(token, candidate.key_hash)
            if matches:
                _remember_verified(candidate, digest)
        if matches:
            key = candidate
            break
    if key is None and not cache_only and not bcrypt_checked:
        key_check(token, key_dummy_hash(settings.API_KEY_BCRYPT_ROUNDS))
    failure: tuple[ApiKey | None, Agent | None, str]
    if key is None:
        failure = (None, None, "unknown key")
    elif (unusable := key.unusable_reason(now)) is not None:
        failure = (key, None, unusable)
    elif (agent := agent_config_get(agent_id=key.agent_id, cache_only=cache_only)) is None:
        failure = (key, None, "agent inactive")
    else:
        return key, agent, None
    # The cache alone never fails a key: a miss there may still be a good key.
    return undecided if cache_only else failure


def _cached_key_and_agent(token: str, generation: str | None) -> tuple[ApiKey, Agent] | None:
    """(key, agent) when the cache alone tells that `token` is a key this process verified, of an active
    agent (its expiry and last use are for the caller to check)."""
    digest, generation = key_digest(token), generation or auth_generation()
    found = _authenticated_memo.get(digest, generation)
    if found is None:
        key, agent, _ = _authenticate(token, now=timezone.now(), cache_only=True)
        if key is None or agent is None:
            return None
        found = (key, agent)
        _authenticated_memo.put(digest, generation, found)
    return found


def agent_authenticate_cached(*, token: str, generation: str | None = None) -> Agent | None:
    """The agent owning `token` when the cache alone can tell, with no database and nothing to write: a
    usable key this process verified and marked as used within the last minute, of an active agent. None
    means only `agent_authenticate` can answer (it is not a failure). `generation`: the auth generation,
    when the caller has just read it."""
    found = _cached_key_and_agent(token, generation)
    if found is None:
        return None
    key, agent = found
    if key.unusable_reason(timezone.now()) is not None:
        return None
    if time.monotonic() - _marked_seen.get(key.pk, -1e9) >= LAST_SEEN_INTERVAL.total_seconds():
        return None
    return agent


def agent_key_known(*, token: str) -> bool:
    """Whether this process has verified `token` as a stored key, whatever became of the key since: a real key,
    never a guess, and checking it again costs no bcrypt. The gateway lets such a token pass the guards it
    puts around unverified ones, so that a legitimate agent never waits behind guesses."""
    digest = key_digest(token)
    return any(hmac.compare_digest(known, digest) for _, known in list(_verified.values()))


def _failure_detail(key: ApiKey, reason: str) -> str:
    """What the holder of a stored key that no longer works is told (never the secret)."""
    if reason == "key revoked" and key.revoked_at:
        why = key.revoked_reason or "revoked"
        return f"API key {key.key_id} was revoked at {key.revoked_at:%Y-%m-%d %H:%M:%S} UTC ({why})"
    if reason == "key expired" and key.not_after:
        return f"API key {key.key_id} expired at {key.not_after:%Y-%m-%d %H:%M:%S} UTC (replaced by a rotation)"
    return f"API key {key.key_id} belongs to agent {key.agent_id}, which is inactive (not in the configuration)"


def agent_authenticate(
    *, token: str, ip_address: str | None = None, user_agent: str | None = None, audit_failure: bool = True
) -> Agent:
    """The active agent owning `token`, or AuthFailed (audited unless `audit_failure` is False, without the
    token). Keys and agents are read through the cache, which every change to them invalidates, so
    revocation applies at once. A stored key that no longer works fails with its key id and the reason
    (revoked by whom or by the configuration, expired, agent inactive): not a guess."""
    now = timezone.now()
    key, agent, reason = _authenticate(token, now=now, cache_only=False)
    if reason is not None:
        detail = _failure_detail(key, reason) if key else None
        if audit_failure:
            metadata = {"reason": reason, "key_id": key.key_id if key else None}
            if key and key.revoked_reason:
                metadata["revoked_reason"] = key.revoked_reason
            audit_record(
                event_type=EventType.AUTH_FAILED,
                severity=Severity.WARNING,
                message=f"authentication failed: {detail or reason}",
                agent_id=key.agent_id if key else None,
                metadata=metadata,
                ip_address=ip_address,
                user_agent=user_agent,
            )
        raise AuthFailed(reason, key_id=key.key_id if key else None, detail=detail)
    if key is None or agent is None:  # _authenticate names a reason whenever either is missing
        raise AuthFailed("unknown key")
    _agent_mark_seen(key=key, agent=agent, now=now, ip_address=ip_address, user_agent=user_agent)
    return agent


def _agent_mark_seen(*, key: ApiKey, agent: Agent, now, ip_address: str | None, user_agent: str | None) -> None:
    marked_at = time.monotonic()
    if marked_at - _marked_seen.get(key.pk, -1e9) < LAST_SEEN_INTERVAL.total_seconds():
        return  # seen recently: no write on the hot path
    _marked_seen[key.pk] = marked_at
    cutoff = now - LAST_SEEN_INTERVAL
    stale = Q(last_used_at__isnull=True) | Q(last_used_at__lt=cutoff)
    if not ApiKey.objects.filter(stale, pk=key.pk).update(last_used_at=now):
        return  # another process marked it meanwhile
    last_seen = Agent.objects.filter(pk=agent.pk).values_list("last_seen", flat=True).first()
    returning = last_seen is None or last_seen < now - timedelta(seconds=global_settings().session_timeout)
    Agent.objects.filter(pk=agent.pk).update(last_seen=now)
    invalidate(agent_stats_key(agent.pk))
    if returning:
        # Success is audited when an agent comes back after a session's worth of silence, not per request.
        audit_record(
            event_type=EventType.AUTH_SUCCEEDED,
            message=f"agent {agent.id} authenticated",
            agent_id=agent.id,
            metadata={"key_id": key.key_id},
            ip_address=ip_address,
            user_agent=user_agent,
        )


def _active_agent(agent_id: str) -> Agent:
    agent = Agent.objects.filter(pk=agent_id, is_active=True).first()
    if agent is None:
        raise AgentNotFound(agent_id)
    return agent


def agent_key_create(*, agent_id: str, actor: Actor) -> tuple[ApiKey, str]:
    """A new generated key for the agent. Returns the row and the key, which is shown once only."""
    agent = _active_agent(agent_id)
    key_id, token = key_generate()
    hashed = key_hash(token, rounds=settings.API_KEY_BCRYPT_ROUNDS)
    with transaction.atomic():
        key = ApiKey.objects.create(agent=agent, key_id=key_id, key_hash=hashed, source=KeySource.MANAGED)
        invalidate(api_key_key(key_id))
        audit_record(
            event_type=EventType.KEY_CREATED,
            message=f"new API key {key_id} for agent {agent.id}",
            agent_id=agent.id,
            username=actor.username,
            metadata={"key_id": key_id},
        )
    _remember_verified(key, key_digest(token))
    return key, token


# The longest an agent's old keys may keep working after a rotation: 30 days.
KEY_ROTATION_GRACE_MAX = 30 * 24 * 3600


def agent_key_rotate(*, agent_id: str, actor: Actor, grace_seconds: int = 3600) -> tuple[ApiKey, str]:
    """A new key; the agent's other keys keep working for `grace_seconds` (0 to KEY_ROTATION_GRACE_MAX), then
    stop."""
    if not 0 <= grace_seconds <= KEY_ROTATION_GRACE_MAX:
        raise ValidationFailed(f"grace: must be 0 to {KEY_ROTATION_GRACE_MAX} seconds (30 days)", field="grace")
    agent = _active_agent(agent_id)
    not_after = timezone.now() + timedelta(seconds=grace_seconds)
    key_id, token = key_generate()
    hashed = key_hash(token, rounds=settings.API_KEY_BCRYPT_ROUNDS)
    with transaction.atomic():
        old = ApiKey.objects.filter(agent=agent, revoked_at__isnull=True).filter(
            Q(not_after__isnull=True) | Q(not_after__gt=not_after)
        )
        old_ids = list(old.values_list("key_id", flat=True))
        old.update(not_after=not_after)
        key = ApiKey.objects.create(agent=agent, key_id=key_id, key_hash=hashed, source=KeySource.MANAGED)
        invalidate(*map(api_key_key, [*old_ids, key_id]))
        audit_record(
            event_type=EventType.KEY_ROTATED,
            message=f"API key of agent {agent.id} rotated to {key_id}; "
            f"{len(old_ids)} old key(s) work until {not_after:%Y-%m-%d %H:%M:%S} UTC",
            agent_id=agent.id,
            username=actor.username,
            metadata={"key_id": key_id, "old_key_ids": old_ids, "grace_seconds": grace_seconds},
        )
    _remember_verified(key, key_digest(token))
    _config_key_hide(agent_id=agent.id)
    return key, token


def _config_key_hide(*, agent_id: str) -> None:
    """The rotated-out key, if agents.yml gives it in clear, is replaced there by its hash (it works until
    the grace ends all the same): the file never keeps an old key in clear."""

    try:
        config_agent_key_hash(agent_id=agent_id)
    except OSError as error:
        logger.warning("agents.yml: could not replace the rotated key of %s by its hash: %s", agent_id, error)


def agent_key_revoke(*, agent_id: str, actor: Actor, key_id: str | None = None) -> list[str]:
    """Revoke one key of the agent, or all of its keys. Returns the revoked key ids."""
    agent = Agent.objects.filter(pk=agent_id).first()
    if agent is None:
        raise AgentNotFound(agent_id)
    now = timezone.now()
    with transaction.atomic():
        keys = ApiKey.objects.filter(agent=agent, revoked_at__isnull=True)
        if key_id:
            keys = keys.filter(key_id=key_id)
        revoked = list(keys.values_list("key_id", flat=True))
        keys.update(revoked_at=now, revoked_reason=f"revoked by {actor.label}")
        invalidate(*map(api_key_key, revoked))
        for revoked_id in revoked:
            audit_record(
                event_type=EventType.KEY_REVOKED,
                severity=Severity.WARNING,
                message=f"API key {revoked_id} of agent {agent.id} revoked",
                agent_id=agent.id,
                username=actor.username,
                metadata={"key_id": revoked_id},
            )
    return revoked


@dataclass
class AgentSyncReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deactivated: list[str] = field(default_factory=list)
    keys_added: list[str] = field(default_factory=list)
    keys_revoked: list[str] = field(default_factory=list)

    def changed(self) -> bool:
        return any([self.added, self.updated, self.deactivated, self.keys_added, self.keys_revoked])


_AGENT_FIELDS = ("name", "description", "role", "scopes", "allowed_sites", "configured_at")


def _agent_values(spec: AgentConfig) -> dict:
    return {
        "name": spec.name,
        "description": spec.description,
        "role": spec.role,
        "scopes": list(spec.scopes),
        "allowed_sites": list(spec.allowed_sites) if spec.allowed_sites is not None else None,
        "configured_at": spec.created_at,
    }


def agents_sync(*, agents: Sequence[AgentConfig]) -> AgentSyncReport:
    """Make the database match the agents of the config files. Runs inside the caller's transaction;
    bcrypt hashing of new keys happens first, outside it (see `agent_keys_hash_new`)."""
    report = AgentSyncReport()
    existing = {a.id: a for a in Agent.objects.all()}
    for spec in agents:
        values = _agent_values(spec)
        agent = existing.get(spec.id)
        if agent is None:
            Agent.objects.create(id=spec.id, is_active=True, **values)
            report.added.append(spec.id)
        elif not agent.is_active or any(getattr(agent, f) != values[f] for f in _AGENT_FIELDS):
            Agent.objects.filter(pk=spec.id).update(is_active=True, updated_at=timezone.now(), **values)
            report.updated.append(spec.id)
    gone = [agent_id for agent_id, a in existing.items() if a.is_active and agent_id not in {s.id for s in agents}]
    Agent.objects.filter(pk__in=gone).update(is_active=False, updated_at=timezone.now())
    report.deactivated = gone
    changed = [*report.added, *report.updated, *gone]
    invalidate(*map(agent_stats_key, changed), *map(agent_config_key, changed))
    return report


def agent_keys_hash_new(*, agents: Sequence[AgentConfig]) -> dict[str, str]:
    """bcrypt hashes for config keys not yet stored, by lookup id. Slow (cost 12 is about 200 ms a key),
    so it runs before the sync transaction, on threads (bcrypt releases the GIL)."""
    known = set(ApiKey.objects.filter(source=KeySource.CONFIG).values_list("key_id", flat=True))
    todo = {
        k.lookup_id: k.secret
        for a in agents
        for k in a.keys
        if k.secret and k.lookup_id not in known and key_legacy_lookup_id(k.secret) not in known
    }
    rounds = settings.API_KEY_BCRYPT_ROUNDS
    with ThreadPoolExecutor(max_workers=4) as pool:
        hashes = pool.map(lambda secret: key_hash(secret, rounds=rounds), todo.values())
        return dict(zip(todo.keys(), hashes, strict=True))


def agent_keys_sync(*, agents: Sequence[AgentConfig], new_hashes: dict[str, str], report: AgentSyncReport) -> None:
    """Store config keys, and revoke config keys that left the files (they fail on their next use).
    A key revoked by a person stays revoked even while the file still holds it."""
    existing = {k.key_id: k for k in ApiKey.objects.filter(source=KeySource.CONFIG)}
    _legacy_key_ids_upgrade(agents=agents, existing=existing)
    wanted: set[str] = set()
    digests: dict[str, bytes] = {}
    for agent in agents:
        for spec in agent.keys:
            wanted.add(spec.lookup_id)
            if spec.secret:
                digests[spec.lookup_id] = key_digest(spec.secret)
            stored_hash = spec.bcrypt_hash or new_hashes.get(spec.lookup_id)
            row = existing.get(spec.lookup_id)
            if row is None:
                if stored_hash is None:  # agent_keys_hash_new hashed every key not stored yet
                    raise RuntimeError(f"no hash for the new key {spec.lookup_id}: run agent_keys_hash_new first")
                ApiKey.objects.create(
                    agent_id=agent.id,
                    key_id=spec.lookup_id,
                    key_hash=stored_hash,
                    source=KeySource.CONFIG,
                    origin=spec.source,
                )
                report.keys_added.append(spec.lookup_id)
                _audit_key(EventType.KEY_CREATED, agent.id, spec.lookup_id, f"from {spec.source}")
                continue
            changes: dict = {}
            if row.agent_id != agent.id:
                changes["agent_id"] = agent.id
            if spec.bcrypt_hash and row.key_hash != spec.bcrypt_hash:
                changes["key_hash"] = spec.bcrypt_hash
            if row.origin != spec.source:
                changes["origin"] = spec.source
            if row.revoked_reason == REMOVED_FROM_CONFIG:
                changes.update(revoked_at=None, revoked_reason="")
                report.keys_added.append(spec.lookup_id)
                _audit_key(EventType.KEY_CREATED, agent.id, spec.lookup_id, f"restored from {spec.source}")
            if changes:
                ApiKey.objects.filter(pk=row.pk).update(**changes)
                invalidate(api_key_key(row.key_id))
    removed = [row for key_id, row in existing.items() if key_id not in wanted and row.revoked_at is None]
    ApiKey.objects.filter(pk__in=[r.pk for r in removed]).update(
        revoked_at=timezone.now(), revoked_reason=REMOVED_FROM_CONFIG
    )
    invalidate(*(api_key_key(k) for k in [*report.keys_added, *(r.key_id for r in removed)]))
    for row in removed:
        report.keys_revoked.append(row.key_id)
        _audit_key(EventType.KEY_REVOKED, row.agent_id, row.key_id, REMOVED_FROM_CONFIG)
    # This process knows these keys in clear: their first use needs no bcrypt. (Were the transaction to
    # roll back, the entries would match no row and do nothing.)
    for row in ApiKey.objects.filter(key_id__in=list(digests)):
        _remember_verified(row, digests[row.key_id])


def _legacy_key_ids_upgrade(*, agents: Sequence[AgentConfig], existing: dict[str, ApiKey]) -> None:
    """Rows stored under the older id (a bare SHA-256 prefix of the key) take the keyed id of the same key
    when the files give it in clear: same row, same hash, history kept; the old id is not shown again."""
    for agent in agents:
        for spec in agent.keys:
            legacy = key_legacy_lookup_id(spec.secret) if spec.secret else None
            if legacy is None or spec.lookup_id in existing or legacy not in existing:
                continue
            row = existing.pop(legacy)
            ApiKey.objects.filter(pk=row.pk).update(key_id=spec.lookup_id)
            row.key_id = spec.lookup_id
            existing[spec.lookup_id] = row
            invalidate(api_key_key(legacy), api_key_key(spec.lookup_id))
            logger.info("API key of agent %s moved to its keyed id %s", row.agent_id, spec.lookup_id)


def _audit_key(event_type: EventType, agent_id: str, key_id: str, detail: str) -> None:
    verb = "added" if event_type == EventType.KEY_CREATED else "revoked"
    audit_record(
        event_type=event_type,
        severity=Severity.INFO if event_type == EventType.KEY_CREATED else Severity.WARNING,
        message=f"API key {key_id} of agent {agent_id} {verb} ({detail})",
        agent_id=agent_id,
        metadata={"key_id": key_id},
    )
