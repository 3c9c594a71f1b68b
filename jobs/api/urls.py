from rest_framework.routers import SimpleRouter

from jobs.api import data_views, schedule_views, views

router = SimpleRouter()
router.register("commands", views.CommandViewSet, basename="command")
router.register("data-sources", data_views.DataSourceViewSet, basename="data-source")
router.register("datasets", data_views.DatasetViewSet, basename="dataset")
router.register("saved-queries", data_views.SavedQueryViewSet, basename="saved-query")
router.register("schedules", schedule_views.ScheduleViewSet, basename="schedule")

urlpatterns = router.urls
