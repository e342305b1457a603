from __future__ import annotations

from celery import shared_task

from audit.services import audit_retention_apply
from core.config.state import config_current


@shared_task(name="audit.apply_retention")
def apply_audit_retention() -> int:
    return audit_retention_apply(days=config_current().system.audit_retention_days)
