from django.urls import path

from agents import views as agent_views
from articles import views
from audit import views as audit_views
from sites import views as site_views
from wpublisher import views as project_views

app_name = "console"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("articles/", views.queue, name="queue"),
    path("articles/batch", views.queue_batch, name="queue-batch"),
    path("articles/<int:article_id>/", views.article_detail, name="article"),
    path("articles/<int:article_id>/action", views.article_action, name="article-action"),
    path("sites/", site_views.sites_page, name="sites"),
    path("sites/<str:site_id>/check", site_views.site_check, name="site-check"),
    path("agents/", agent_views.agents_page, name="agents"),
    path("agents/<str:agent_id>/keys", agent_views.agent_key_action, name="agent-keys"),
    path("config/", project_views.config_editor, name="config"),
    path("audit/", audit_views.audit_page, name="audit"),
    path("audit.csv", audit_views.audit_csv, name="audit-csv"),
    path("monitoring/", views.monitoring, name="monitoring"),
]
