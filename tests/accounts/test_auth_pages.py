"""The browser pages for signing in and out and for passwords (/accounts/), through the
Django test client on the real database and Redis: sign-in with the audit trail and the
lockout, POST-only sign-out, password change, password reset by e-mail, CSRF and `next`."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import SESSION_KEY
from django.test import Client

from audit.models import SecurityAction, SecurityEvent

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
LOGOUT = "/accounts/logout/"
PASSWORD_CHANGE = "/accounts/password_change/"
PASSWORD_RESET = "/accounts/password_reset/"
NEW_PASSWORD = "Quiet-Harbour-Lantern-73"
RESET_LINK = re.compile(r"http://testserver(/accounts/reset/[\w-]+/[\w-]+/)")


def password_of(user) -> str:
    return f"{user.username}-Password-1"


def sign_in(client: Client, username: str, password: str, **extra):
    return client.post(LOGIN, {"username": username, "password": password, **extra})


def signed_in_user_id(client: Client) -> str | None:
    return client.session.get(SESSION_KEY)


def events(action: str) -> list[SecurityEvent]:
    return list(SecurityEvent.objects.filter(action=action))


# --- Sign in ----------------------------------------------------------------------------


def test_the_login_page_has_labelled_fields_and_a_csrf_token(client):
    response = client.get(LOGIN)

    assert response.status_code == 200
    html = response.content.decode()
    assert '<label for="id_username">' in html
    assert '<label for="id_password">' in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert 'href="/accounts/password_reset/"' in html


@pytest.mark.parametrize(
    "url", [LOGIN, PASSWORD_RESET, "/accounts/password_reset/done/", "/accounts/reset/done/"]
)
def test_the_pages_need_no_inline_script_or_style(client, url):
    """The Content Security Policy allows neither: the pages must not rely on them."""
    response = client.get(url)

    assert response.status_code == 200
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    html = response.content.decode()
    scripts = re.findall(r"<script[^>]*>", html)
    assert scripts and all(" src=" in tag for tag in scripts), scripts
    assert "<style" not in html
    assert "style=" not in html


def test_the_right_password_signs_in_and_is_recorded(client, analyst):
    response = sign_in(client, "ana", password_of(analyst))

    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert signed_in_user_id(client) == str(analyst.pk)
    [event] = events(SecurityAction.LOGIN_SUCCEEDED)
    assert event.actor == analyst
    assert event.ip == "127.0.0.1"


def test_a_wrong_password_shows_an_error_and_is_recorded(client, analyst):
    response = sign_in(client, "ana", "not-my-password")

    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    assert response.context["form"].non_field_errors()
    assert signed_in_user_id(client) is None
    [event] = events(SecurityAction.LOGIN_FAILED)
    assert event.detail == {"attempted_username": "ana"}
    assert "not-my-password" not in str(event.detail)


def test_after_the_allowed_failures_even_the_right_password_is_refused(client, analyst, settings):
    settings.LOGIN_LOCKOUT_ATTEMPTS = 3
    settings.LOGIN_LOCKOUT_SECONDS = 900

    first = sign_in(client, "ana", "wrong")
    assert "temporarily locked" not in first.content.decode()
    for _ in range(2):
        sign_in(client, "ana", "wrong")

    response = sign_in(client, "ana", password_of(analyst))

    assert response.status_code == 200
    [error] = response.context["form"].non_field_errors().as_data()
    assert error.code == "locked_out"
    assert (
        "Too many failed sign-in attempts: sign-in is temporarily locked. "
        "Try again in 15 minutes." in response.content.decode()
    )
    assert signed_in_user_id(client) is None
    assert len(events(SecurityAction.LOCKOUT)) == 1
    assert not events(SecurityAction.LOGIN_SUCCEEDED)


def test_an_unknown_username_gets_the_same_lockout_message(client, settings):
    """Unknown usernames are locked out too, so the message reveals no account."""
    settings.LOGIN_LOCKOUT_ATTEMPTS = 3
    for _ in range(3):
        sign_in(client, "nobody", "wrong")

    response = sign_in(client, "nobody", "wrong")

    [error] = response.context["form"].non_field_errors().as_data()
    assert error.code == "locked_out"


# --- next= --------------------------------------------------------------------------------


def test_a_local_next_url_is_followed(client, analyst):
    page = client.get(LOGIN, {"next": "/api/tokens/"})
    assert '<input type="hidden" name="next" value="/api/tokens/">' in page.content.decode()

    response = sign_in(client, "ana", password_of(analyst), next="/api/tokens/")

    assert response.status_code == 302
    assert response.headers["Location"] == "/api/tokens/"


@pytest.mark.parametrize(
    "target", ["http://evil.example/", "//evil.example/", "https://evil.example/x"]
)
def test_an_external_next_url_is_ignored(client, analyst, target):
    page = client.get(LOGIN, {"next": target})
    assert "evil.example" not in page.content.decode()

    response = sign_in(client, "ana", password_of(analyst), next=target)

    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert signed_in_user_id(client) == str(analyst.pk)


# --- CSRF ---------------------------------------------------------------------------------


def test_a_login_post_without_a_csrf_token_is_refused(analyst):
    client = Client(enforce_csrf_checks=True)

    response = sign_in(client, "ana", password_of(analyst))

    assert response.status_code == 403
    assert signed_in_user_id(client) is None
    assert not events(SecurityAction.LOGIN_SUCCEEDED)


def test_a_login_post_with_the_pages_csrf_token_is_accepted(analyst):
    client = Client(enforce_csrf_checks=True)
    page = client.get(LOGIN)
    token = page.context["csrf_token"]

    response = sign_in(client, "ana", password_of(analyst), csrfmiddlewaretoken=str(token))

    assert response.status_code == 302
    assert signed_in_user_id(client) == str(analyst.pk)


# --- Sign out -------------------------------------------------------------------------------


def test_signing_out_by_post_ends_the_session_and_is_recorded(client, analyst):
    client.force_login(analyst)

    response = client.post(LOGOUT)

    assert response.status_code == 302
    assert response.headers["Location"] == LOGIN
    assert signed_in_user_id(client) is None
    [event] = events(SecurityAction.LOGOUT)
    assert event.actor == analyst


def test_signing_out_by_get_is_not_allowed(client, analyst):
    client.force_login(analyst)

    response = client.get(LOGOUT)

    assert response.status_code == 405
    assert signed_in_user_id(client) == str(analyst.pk)
    assert not events(SecurityAction.LOGOUT)


# --- Password change --------------------------------------------------------------------------


def test_changing_the_password_needs_a_signed_in_user(client):
    response = client.get(PASSWORD_CHANGE)

    assert response.status_code == 302
    assert response.headers["Location"] == f"{LOGIN}?next={PASSWORD_CHANGE}"


def test_the_password_change_page_has_labelled_fields(client, analyst):
    client.force_login(analyst)

    html = client.get(PASSWORD_CHANGE).content.decode()

    for field in ("old_password", "new_password1", "new_password2"):
        assert f'<label for="id_{field}">' in html
    assert 'name="csrfmiddlewaretoken"' in html


def test_a_weak_new_password_is_rejected(client, analyst):
    client.force_login(analyst)

    response = client.post(
        PASSWORD_CHANGE,
        {
            "old_password": password_of(analyst),
            "new_password1": "password",
            "new_password2": "password",
        },
    )

    assert response.status_code == 200
    assert "This password is too common." in response.content.decode()
    assert Client().login(username="ana", password=password_of(analyst))


def test_a_wrong_current_password_is_rejected(client, analyst):
    client.force_login(analyst)

    response = client.post(
        PASSWORD_CHANGE,
        {"old_password": "wrong", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert response.status_code == 200
    assert response.context["form"].errors["old_password"]
    assert Client().login(username="ana", password=password_of(analyst))


def test_a_changed_password_is_the_one_that_works(client, analyst):
    client.force_login(analyst)
    other_browser = Client()
    other_browser.force_login(analyst)

    response = client.post(
        PASSWORD_CHANGE,
        {
            "old_password": password_of(analyst),
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        },
        follow=True,
    )

    assert response.redirect_chain == [("/accounts/password_change/done/", 302)]
    assert "Password changed" in response.content.decode()
    # This browser stays signed in; the other session is signed out.
    assert client.get(PASSWORD_CHANGE).status_code == 200
    assert other_browser.get(PASSWORD_CHANGE).status_code == 302
    assert not Client().login(username="ana", password=password_of(analyst))
    assert sign_in(Client(), "ana", NEW_PASSWORD).status_code == 302
    [changed] = events(SecurityAction.PASSWORD_CHANGED)
    assert changed.actor == analyst and changed.target_id == str(analyst.pk)
    assert changed.detail == {"user": "ana", "how": "password change page"}
    assert NEW_PASSWORD not in str(changed.detail)


def test_the_admins_password_change_still_works_with_these_templates(client, operator):
    """Our registration/ templates replace the admin's own for its password change."""
    client.force_login(operator)

    response = client.post(
        "/admin/password_change/",
        {
            "old_password": password_of(operator),
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        },
        follow=True,
    )

    assert response.redirect_chain == [("/admin/password_change/done/", 302)]
    assert Client().login(username="ops", password=NEW_PASSWORD)
    [changed] = events(SecurityAction.PASSWORD_CHANGED)
    assert changed.actor == operator and changed.target_id == str(operator.pk)


def test_an_admin_setting_someone_s_password_is_recorded(client, django_user_model, analyst):
    root = django_user_model.objects.create_superuser("root", "root@example.com", "Root-Pass-1")
    client.force_login(root)

    response = client.post(
        f"/admin/auth/user/{analyst.pk}/password/",
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"},
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    assert Client().login(username="ana", password=NEW_PASSWORD)
    [changed] = events(SecurityAction.PASSWORD_CHANGED)
    assert changed.actor == root and changed.target_id == str(analyst.pk)
    assert changed.detail == {"user": "ana", "how": "admin"}


# --- Password reset ---------------------------------------------------------------------------


def test_a_password_reset_mails_a_link_that_sets_a_new_password(client, make_user, mailoutbox):
    user = make_user("rita", email="rita@example.com")

    response = client.post(PASSWORD_RESET, {"email": "Rita@Example.com"})

    assert response.status_code == 302
    assert response.headers["Location"] == "/accounts/password_reset/done/"
    [mail] = mailoutbox
    assert mail.to == ["rita@example.com"]
    assert mail.subject == "Reset your Central password"
    assert mail.from_email  # DEFAULT_FROM_EMAIL
    link = RESET_LINK.search(mail.body)
    assert link, mail.body

    form_page = client.get(link[1], follow=True)
    assert form_page.status_code == 200
    assert form_page.context["validlink"]
    assert '<label for="id_new_password1">' in form_page.content.decode()
    set_password_url = form_page.redirect_chain[-1][0]

    weak = client.post(set_password_url, {"new_password1": "12345678", "new_password2": "12345678"})
    assert weak.status_code == 200
    assert weak.context["form"].errors["new_password2"]

    done = client.post(
        set_password_url,
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        follow=True,
    )
    assert done.redirect_chain == [("/accounts/reset/done/", 302)]
    assert signed_in_user_id(client) is None  # a reset does not sign in by itself

    assert sign_in(Client(), "rita", NEW_PASSWORD).status_code == 302
    assert not Client().login(username="rita", password=password_of(user))
    [changed] = events(SecurityAction.PASSWORD_CHANGED)
    assert changed.actor == user and changed.detail == {"user": "rita", "how": "reset link"}

    # The link works once.
    used = client.get(link[1], follow=True)
    assert not used.context["validlink"]
    assert "This link no longer works" in used.content.decode()


def test_an_unknown_address_gets_the_same_page_and_no_mail(client, make_user, mailoutbox):
    make_user("rita", email="rita@example.com")

    known = client.post(PASSWORD_RESET, {"email": "rita@example.com"}, follow=True)
    unknown = client.post(PASSWORD_RESET, {"email": "nobody@example.com"}, follow=True)

    assert len(mailoutbox) == 1
    assert (
        unknown.redirect_chain == known.redirect_chain == [("/accounts/password_reset/done/", 302)]
    )
    assert unknown.content == known.content
    assert "Check your e-mail" in unknown.content.decode()


def test_an_inactive_account_gets_no_reset_mail(client, make_user, mailoutbox):
    make_user("gone", email="gone@example.com", is_active=False)

    response = client.post(PASSWORD_RESET, {"email": "gone@example.com"})

    assert response.status_code == 302
    assert mailoutbox == []


def test_a_forged_reset_link_is_refused(client, make_user):
    make_user("rita", email="rita@example.com")

    response = client.get("/accounts/reset/MQ/abcdef-0123456789abcdef0123456789abcdef/")

    assert response.status_code == 200
    assert not response.context["validlink"]
    assert "<form" not in response.content.decode()
