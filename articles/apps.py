from django.apps import AppConfig


class ArticlesConfig(AppConfig):
    name = "articles"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_out

        from articles.consumers import console_logout_receiver

        user_logged_out.connect(console_logout_receiver, dispatch_uid="articles.console_logout")
