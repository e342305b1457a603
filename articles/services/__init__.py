"""The review workflow: every write to an article is one function here, shared by the MCP tools, the
console, the JSON API, admin actions and the publishing tasks. One module per part of an article's life:

- `transitions`: the table of allowed status moves, applied with a conditional UPDATE and audited;
- `validation`: cleaning what agents send;
- `submission`: submit and revise (agents);
- `review`: approve, reject, retry a failed publish;
- `publishing`: the publishing task's bookkeeping and the WordPress post, exactly once.
"""

from articles.services.publishing import (
    PUBLISH_CLAIM_MARGIN,
    PUBLISH_TASK,
    PUBLISH_TASK_LOST_AFTER,
    article_post_reconcile,
    article_publish,
    article_publish_defer,
    article_publish_enqueue,
    article_publish_fail,
    article_publish_post_record,
    article_publish_recover,
    article_publish_retry_later,
    article_publish_start,
    article_publish_succeed,
    post_slug,
    publish_claim_stale_after,
    publish_reconcile_delay,
)
from articles.services.review import article_approve, article_reject, article_retry_publish
from articles.services.submission import article_revise, article_submit
from articles.services.transitions import CLAIM_RELEASED, Move
from articles.services.validation import CATEGORY_MAX, NOTE_MAX, REASON_MAX, TITLE_MAX

__all__ = [
    "CATEGORY_MAX",
    "CLAIM_RELEASED",
    "NOTE_MAX",
    "PUBLISH_CLAIM_MARGIN",
    "PUBLISH_TASK",
    "PUBLISH_TASK_LOST_AFTER",
    "REASON_MAX",
    "TITLE_MAX",
    "Move",
    "article_approve",
    "article_post_reconcile",
    "article_publish",
    "article_publish_defer",
    "article_publish_enqueue",
    "article_publish_fail",
    "article_publish_post_record",
    "article_publish_recover",
    "article_publish_retry_later",
    "article_publish_start",
    "article_publish_succeed",
    "article_reject",
    "article_retry_publish",
    "article_revise",
    "article_submit",
    "post_slug",
    "publish_claim_stale_after",
    "publish_reconcile_delay",
]
