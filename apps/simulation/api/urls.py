from apps.core.api.routers import OptionalSlashRouter
from apps.simulation.api.views import ScenarioViewSet, SimulationRunViewSet

router = OptionalSlashRouter()
router.register("simulation/runs", SimulationRunViewSet, basename="simulation-run")
router.register("simulation/scenarios", ScenarioViewSet, basename="simulation-scenario")

urlpatterns = router.urls
