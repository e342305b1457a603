from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The reviewers' web console: pages (Django templates + htmx) kept live over a websocket."""

    name = "console"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_out

        from console.consumers import console_logout_receiver

        user_logged_out.connect(console_logout_receiver, dispatch_uid="console.console_logout")
