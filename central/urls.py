from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts.web_views import PasswordChangeView
from central import views
from central.api import ApiRootView, HealthView
from central.metrics.access import metrics_view

urlpatterns = [
    path("", views.home, name="home"),
    # The admin's own password change, recorded like the page's (accounts.web_views).
    path(
        "admin/password_change/",
        admin.site.admin_view(
            PasswordChangeView.as_view(success_url="/admin/password_change/done/")
        ),
    ),
    path("admin/queues/", include("central.admin_queue")),  # the operators' queue page
    path("admin/", admin.site.urls),
    path("api/", ApiRootView.as_view(), name="api-root"),
    path("api/health/", HealthView.as_view(), name="health"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/market-data/", include("marketdata.api.urls")),
    path("api/audit/", include("audit.api.urls")),
    path("api/", include("accounts.api.urls")),
    path("api/", include("backtest.api.urls")),
    path("api/", include("replay.api.transaction_urls")),
    path("api/", include("replay.api.replay_urls")),
    path("accounts/", include("accounts.web_urls")),
    path("settings/", include("accounts.settings_urls")),
    path("", include("marketdata.web_urls")),
    path("", include("backtest.web_urls")),
    path("", include("replay.web_urls")),
    # django-prometheus's export, for allowed networks and the bearer token only.
    path("metrics", metrics_view, name="prometheus-django-metrics"),
]
