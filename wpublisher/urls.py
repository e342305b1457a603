from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from api.main import api
from wpublisher import views
from wpublisher.metrics import metrics_view

# The admin's header links back to the console itself (templates/admin/base_site.html): no second "View site".
admin.site.site_url = None

urlpatterns = [
    path("health", views.health, name="health"),
    path("metrics", metrics_view, name="metrics"),
    path("login/", auth_views.LoginView.as_view(template_name="console/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("", include("console.urls")),
]
