"""Browser pages for signing in and out and for passwords, mounted under /accounts/.

Django's own auth views with our templates (templates/registration/), the password
ones recording a security event (accounts.web_views); the URL names are the ones those
views and LOGIN_URL expect. Signing out is POST only (Django 5)."""

from django.contrib.auth import views as auth_views
from django.urls import path

from accounts import web_views
from accounts.forms import LockoutAwareAuthenticationForm

urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(authentication_form=LockoutAwareAuthenticationForm),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password_change/", web_views.PasswordChangeView.as_view(), name="password_change"),
    path(
        "password_change/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("password_reset/", auth_views.PasswordResetView.as_view(), name="password_reset"),
    path(
        "password_reset/done/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "reset/<uidb64>/<token>/",
        web_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
]
