from rest_framework.routers import SimpleRouter

from jobs.api import views

router = SimpleRouter()
router.register("commands", views.CommandViewSet, basename="command")

urlpatterns = router.urls
