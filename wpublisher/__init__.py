"""wpublisher: a review-gated publishing gateway between AI agents (MCP) and WordPress sites.

This package is the project shell (settings, URLs, ASGI, Celery, the serve command). Loading the Celery
app here makes every `shared_task` use it, in the web server as in the worker."""

from wpublisher.celery import app as celery_app

__all__ = ["celery_app"]
