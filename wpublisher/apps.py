from django.apps import AppConfig


class WpublisherConfig(AppConfig):
    """The project shell: settings, URLs, ASGI, Celery and the commands."""

    name = "wpublisher"
