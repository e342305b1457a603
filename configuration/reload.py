"""Reload the configuration: read, validate, sync into the database and swap in.

Only entry points (the web server, the worker, commands, the console's config editor) reload; everything
else reads the running config from `core.config.state`. A reload reads and validates the files first; only a valid
config is synced and then swapped in with a single assignment, so a request sees the old or the new
config, never a mix. An invalid file leaves the last good config running and is audited with the exact
messages.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import transaction

from agents.services import agent_keys_hash_new, agent_keys_sync, agents_sync
from audit.models import AuditLog, EventType, Severity
from audit.services import audit_record
from core.config.state import config_failed, config_files_read, config_install, config_is_running, config_lock
from core.config.types import Config, ConfigInvalid
from sites.services import sites_sync

logger = logging.getLogger(__name__)


@dataclass
class ReloadResult:
    ok: bool
    changed: bool
    messages: list[str]
    summary: dict


def config_reload(*, sync: bool = True) -> ReloadResult:
    """Read and validate the files; on success sync them into the database (when `sync`) and swap them
    in. On failure keep the running config and audit the messages. Safe to call from any thread."""
    with config_lock:
        try:
            config = config_files_read()
        except ConfigInvalid as invalid:
            _config_failed(invalid.messages, sync=sync)
            return ReloadResult(ok=False, changed=False, messages=invalid.messages, summary={})
        if config_is_running(config):
            return ReloadResult(ok=True, changed=False, messages=[], summary={})
        summary: dict = {}
        if sync:
            new_hashes = agent_keys_hash_new(agents=config.agents)
            summary = _config_sync(config, new_hashes)
        config_install(config)
        return ReloadResult(ok=True, changed=True, messages=[], summary=summary)


def _config_sync(config: Config, new_hashes: dict[str, str]) -> dict:
    with transaction.atomic():
        site_report = sites_sync(sites=config.sites)
        agent_report = agents_sync(agents=config.agents)
        agent_keys_sync(agents=config.agents, new_hashes=new_hashes, report=agent_report)
        summary = {
            "fingerprint": config.fingerprint,
            "agents": len(config.agents),
            "sites": len(config.sites),
            "agents_added": agent_report.added,
            "agents_updated": agent_report.updated,
            "agents_deactivated": agent_report.deactivated,
            "keys_added": agent_report.keys_added,
            "keys_revoked": agent_report.keys_revoked,
            "sites_added": site_report.added,
            "sites_updated": site_report.updated,
            "sites_deactivated": site_report.deactivated,
        }
        # Several processes may load the same files; the first one to sync them audits the reload.
        if not _last_config_audit_matches(EventType.CONFIG_RELOADED, config.fingerprint):
            audit_record(
                event_type=EventType.CONFIG_RELOADED,
                message=f"configuration loaded: {len(config.agents)} agents, {len(config.sites)} sites",
                metadata=summary,
            )
    return summary


def _last_config_audit_matches(event_type: EventType, fingerprint: str) -> bool:
    last = (
        AuditLog.objects.filter(event_type__in=[EventType.CONFIG_RELOADED, EventType.CONFIG_ERROR])
        .order_by("-id")
        .values("event_type", "metadata")
        .first()
    )
    return bool(last and last["event_type"] == event_type and last["metadata"].get("fingerprint") == fingerprint)


def _config_failed(messages: list[str], *, sync: bool) -> None:
    keeping = config_failed(messages)
    if not sync:
        return
    fingerprint = "error:" + "\n".join(messages)
    if not _last_config_audit_matches(EventType.CONFIG_ERROR, fingerprint):
        audit_record(
            event_type=EventType.CONFIG_ERROR,
            severity=Severity.ERROR,
            message=f"configuration invalid, {keeping}: " + "; ".join(messages),
            metadata={"messages": messages, "fingerprint": fingerprint},
        )
