"""wpublisher: a review-gated publishing gateway between AI agents (MCP) and WordPress sites."""

from wpublisher.celery import app as celery_app

__version__ = "0.1.0"
__all__ = ["__version__", "celery_app"]
