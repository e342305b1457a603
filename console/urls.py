from django.urls import path

from console.views import agents, article, audit, config, dashboard, monitoring, queue, sites

app_name = "console"

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("articles/", queue.queue, name="queue"),
    path("articles/batch", queue.queue_batch, name="queue-batch"),
    path("articles/<int:article_id>/", article.article_detail, name="article"),
    path("articles/<int:article_id>/action", article.article_action, name="article-action"),
    path("sites/", sites.sites_page, name="sites"),
    path("sites/<str:site_id>/check", sites.site_check, name="site-check"),
    path("agents/", agents.agents_page, name="agents"),
    path("agents/<str:agent_id>/keys", agents.agent_key_action, name="agent-keys"),
    path("config/", config.config_editor, name="config"),
    path("audit/", audit.audit_page, name="audit"),
    path("audit.csv", audit.audit_csv, name="audit-csv"),
    path("monitoring/", monitoring.monitoring, name="monitoring"),
]
