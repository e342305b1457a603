from django.apps import AppConfig


class ArticlesConfig(AppConfig):
    name = "articles"

    def ready(self) -> None:
        # The services queue these tasks by name (core.tasks): every process registers them.
        import articles.tasks  # noqa: F401
