from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The reviewers' web console: pages (Django templates + htmx) kept live over a websocket."""

    name = "console"

    def ready(self) -> None:
        from axes.signals import user_locked_out
        from django.contrib.auth.signals import user_logged_out

        from console.consumers import console_logout_receiver
        from console.logins import login_lockout_audit

        user_logged_out.connect(console_logout_receiver, dispatch_uid="console.console_logout")
        user_locked_out.connect(login_lockout_audit, dispatch_uid="console.login_lockout_audit")
