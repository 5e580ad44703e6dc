from django.urls import include, path

from apps.core.urls import path_optional_slash
from apps.warehouse.api.views import MigrationApplyView, MigrationSqlView, MigrationStatusView

urlpatterns = [
    path_optional_slash("database/migrations/", MigrationStatusView.as_view(), name="database-migrations"),
    path_optional_slash("database/migrations/sql/", MigrationSqlView.as_view(), name="database-migrations-sql"),
    path_optional_slash("database/migrations/apply/", MigrationApplyView.as_view(), name="database-migrations-apply"),
    path("", include("apps.warehouse.api.retention_urls")),
]
