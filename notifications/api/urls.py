from django.urls import path
from rest_framework.routers import SimpleRouter

from notifications.api import views

router = SimpleRouter()
router.register("webhooks", views.WebhookViewSet, basename="webhook")

urlpatterns = [
    path("webhooks/<str:pk>/deliveries/", views.EndpointDeliveries.as_view(),
         name="webhook-deliveries"),
    path("commands/<str:pk>/notifications/", views.CommandNotifications.as_view(),
         name="command-notifications"),
    *router.urls,
]
