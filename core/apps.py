from django.apps import AppConfig


class CoreConfig(AppConfig):
    """The bottom layer every app may import: errors, cache, live events, config state, shared helpers."""

    name = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from core.redaction import log_redaction_install

        log_redaction_install()
