from apps.core.api.routers import OptionalSlashRouter
from apps.core.urls import path_optional_slash
from apps.identity.api.roles_views import MemberViewSet, PermissionListView, RoleViewSet

router = OptionalSlashRouter()
router.register("roles", RoleViewSet, basename="role")
router.register("members", MemberViewSet, basename="member")

urlpatterns = [
    *router.urls,
    path_optional_slash("permissions/", PermissionListView.as_view(), name="permission-list"),
]
