from django.urls import re_path
from rest_framework.routers import SimpleRouter

from accounts.api import views

router = SimpleRouter(trailing_slash="/?")
router.register("me/invitations", views.InvitationViewSet, basename="invitation")
router.register("tokens", views.TokenViewSet, basename="token")
router.register("members", views.MemberViewSet, basename="member")
router.register("groups", views.GroupViewSet, basename="group")
router.register("roles", views.RoleViewSet, basename="role")

urlpatterns = [
    re_path(r"^me/?$", views.MeView.as_view(), name="me"),
    *router.urls,
]
