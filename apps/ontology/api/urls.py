from apps.core.api.routers import OptionalSlashRouter
from apps.ontology.api import views

router = OptionalSlashRouter()
router.register("ontology/entities", views.EntityViewSet, basename="ontology-entity")
router.register("ontology/relationships", views.RelationshipViewSet, basename="ontology-relationship")
router.register("ontology/metrics", views.MetricViewSet, basename="ontology-metric")
router.register("ontology/value-chains", views.ValueChainViewSet, basename="ontology-value-chain")
router.register("ontology/actors", views.ActorViewSet, basename="ontology-actor")
router.register("ontology/strategies", views.StrategyViewSet, basename="ontology-strategy")
router.register("ontology/use-cases", views.UseCaseViewSet, basename="ontology-use-case")
router.register("ontology/data-sources", views.DataSourceViewSet, basename="ontology-data-source")

urlpatterns = router.urls
