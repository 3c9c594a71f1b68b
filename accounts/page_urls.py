"""``/accounts/``: login, logout and password change (Django's auth views with our
templates), the one-time link where a new member sets a password (accounts/invitations.py),
the account switcher and the API token page."""

from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from accounts import pages

app_name = "accounts"

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True),
         name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/", auth_views.PasswordChangeView.as_view(
        success_url=reverse_lazy("accounts:password_change_done")), name="password_change"),
    path("password/done/", auth_views.PasswordChangeDoneView.as_view(),
         name="password_change_done"),
    path("welcome/<uidb64>/<token>/", auth_views.PasswordResetConfirmView.as_view(
        template_name="registration/welcome.html",
        success_url=reverse_lazy("accounts:welcome_done")), name="welcome"),
    path("welcome/done/", auth_views.PasswordResetCompleteView.as_view(
        template_name="registration/welcome_done.html"), name="welcome_done"),
    path("switch/", pages.switch_account, name="switch"),
    path("tokens/", pages.tokens, name="tokens"),
    path("tokens/<int:pk>/revoke/", pages.revoke_token, name="revoke_token"),
]
