"""Idempotent writes: an agent that lost the answer to a write (a dropped connection, a server restart)
sends it again with the same `idempotency_key` and gets the article the first one wrote, not a second.

The key is stored in the same transaction as the write it names, so a write and its key commit together
or not at all; two requests with one key racing each other leave one write (the unique constraint rolls
the loser back whole, audit row and queued tasks included) and both get its article."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from agents.actors import Actor
from agents.models import Agent
from articles.models import Article, IdempotencyKey
from core.exceptions import ValidationFailed

IDEMPOTENCY_KEY_TTL = timedelta(hours=24)
KEY_MAX = 100
_KEY_RE = re.compile(rf"[\x21-\x7e]{{1,{KEY_MAX}}}")


def _clean_key(key: Any) -> str:
    if not isinstance(key, str) or not _KEY_RE.fullmatch(key):
        raise ValidationFailed(
            f"idempotency_key must be 1 to {KEY_MAX} printable ASCII characters without spaces "
            "(a UUID is a good choice)",
            field="idempotency_key",
        )
    return key


def _request_hash(action: str, arguments: dict[str, Any]) -> str:
    canonical = json.dumps([action, arguments], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _replay(record: IdempotencyKey, *, action: str, request_hash: str) -> Article:
    if record.action != action or record.request_hash != request_hash:
        raise ValidationFailed(
            f"idempotency_key '{record.key}' was used {timezone.now() - record.created_at} ago for another "
            f"request ({record.action} of article {record.article_id}); send a new key with a new request",
            field="idempotency_key",
        )
    return Article.objects.get(pk=record.article_id)


def article_write_idempotent(
    *, owner: Agent, key: Any, write: Callable[..., Article], arguments: dict[str, Any]
) -> Article:
    """`write(**arguments)` once per (owner, key): a repeat with the same write and arguments returns the
    article the first one wrote, as it is now; the same key with another request is refused. Without a
    key, the write simply runs. Arguments that are the acting agent itself are not part of the request's
    identity (the key is already the agent's own)."""
    if key is None:
        return write(**arguments)
    key = _clean_key(key)
    action = write.__name__
    identity = {name: value for name, value in arguments.items() if not isinstance(value, Agent | Actor)}
    request_hash = _request_hash(action, identity)
    expired = timezone.now() - IDEMPOTENCY_KEY_TTL
    lookup = {"agent_id": owner.id, "key": key, "created_at__gte": expired}
    if (record := IdempotencyKey.objects.filter(**lookup).first()) is not None:
        return _replay(record, action=action, request_hash=request_hash)
    try:
        with transaction.atomic():
            IdempotencyKey.objects.filter(agent_id=owner.id, key=key, created_at__lt=expired).delete()
            article = write(**arguments)
            IdempotencyKey.objects.create(
                agent_id=owner.id, key=key, action=action, request_hash=request_hash, article_id=article.pk
            )
    except IntegrityError:
        # The same key committed meanwhile (a twin request): this write was rolled back whole.
        record = IdempotencyKey.objects.filter(**lookup).first()
        if record is None:
            raise
        return _replay(record, action=action, request_hash=request_hash)
    return article


def idempotency_keys_expire() -> int:
    """Forget keys older than IDEMPOTENCY_KEY_TTL; returns how many."""
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=timezone.now() - IDEMPOTENCY_KEY_TTL).delete()
    return deleted
