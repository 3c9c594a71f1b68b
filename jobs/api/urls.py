from rest_framework.routers import SimpleRouter

from jobs.api import data_views, views

router = SimpleRouter()
router.register("commands", views.CommandViewSet, basename="command")
router.register("data-sources", data_views.DataSourceViewSet, basename="data-source")
router.register("datasets", data_views.DatasetViewSet, basename="dataset")
router.register("saved-queries", data_views.SavedQueryViewSet, basename="saved-query")

urlpatterns = router.urls
