from __future__ import annotations

from django.apps import AppConfig


class WpublisherConfig(AppConfig):
    name = "wpublisher"

    def ready(self) -> None:
        from axes.signals import user_locked_out

        from wpublisher.logins import login_lockout_audit

        user_locked_out.connect(login_lockout_audit, dispatch_uid="wpublisher-login-lockout-audit")
