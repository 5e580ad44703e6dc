from apps.calculations.api import views
from apps.core.urls import path_optional_slash

urlpatterns = [
    # Any code up to the slash: an unknown one answers the API's 404, not the router's.
    path_optional_slash(r"metrics/(?P<code>[^/]+)/history/", views.MetricHistoryView.as_view(), name="metric-history"),
    path_optional_slash(r"metrics/(?P<code>[^/]+)/", views.MetricView.as_view(), name="metric"),
    path_optional_slash(r"query/", views.QueryView.as_view(), name="query"),
]
