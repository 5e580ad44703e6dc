from apps.core.api.routers import OptionalSlashRouter
from apps.identity.api import directory_views as views

router = OptionalSlashRouter()
router.register("directory/sync-runs", views.SyncRunViewSet, basename="directory-sync-run")
router.register("directory/users", views.DirectoryUserViewSet, basename="directory-user")
router.register("directory/groups", views.DirectoryGroupViewSet, basename="directory-group")
router.register("role-mappings", views.RoleMappingViewSet, basename="role-mapping")
router.register("access-audit", views.AccessAuditViewSet, basename="access-audit")

urlpatterns = [*router.urls]
