"""Hardening: deploy checks, security headers and CSP, cookies, CSRF, secret masking."""

from __future__ import annotations

import io
import logging
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.views import APIView

from central.logging_filters import MASK, SecretMaskingFilter
from central.security import (
    _STYLE_BLOCK,
    csp_hash,
    inline_script_hashes,
    parse_policy,
    static_inline_style_hashes,
)

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)
# Variables that relax production defaults; a production environment leaves them unset.
SECURITY_VARIABLES = (
    "DEBUG",
    "SECURE_COOKIES",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_REFERRER_POLICY",
    "CONTENT_SECURITY_POLICY",
)


def production_environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SECURITY_VARIABLES}
    env.update(
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="central.example.com",
        DJANGO_SETTINGS_MODULE="central.settings",
    )
    env.update(extra)
    return env


def run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )


# --- check --deploy and production defaults --------------------------------------------


def test_check_deploy_reports_nothing_with_production_settings():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "DEBUG"],
        env=production_environment(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues (0 silenced)." in output
    assert "WARNING" not in output


def test_check_deploy_still_flags_a_relaxed_production():
    """The check is meaningful: turning the HTTPS protections off is reported."""
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        env=production_environment(SECURE_COOKIES="false", SECURE_SSL_REDIRECT="false"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    for code in ("security.W008", "security.W012", "security.W016"):
        assert code in output, output


PRINT_SECURITY_SETTINGS = """
import django, json
django.setup()
from django.conf import settings as s
print(json.dumps({name: getattr(s, name) for name in (
    "DEBUG", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SESSION_COOKIE_HTTPONLY",
    "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD", "SECURE_CONTENT_TYPE_NOSNIFF", "X_FRAME_OPTIONS",
    "SECURE_REFERRER_POLICY", "CONTENT_SECURITY_POLICY")}))
"""


def read_security_settings(env: dict[str, str]) -> dict:
    import json

    result = run_python(PRINT_SECURITY_SETTINGS, env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_defaults_are_secure_when_debug_is_off():
    values = read_security_settings(production_environment())
    assert values == {
        "DEBUG": False,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SESSION_COOKIE_HTTPONLY": True,
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31536000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": True,
        "SECURE_CONTENT_TYPE_NOSNIFF": True,
        "X_FRAME_OPTIONS": "DENY",
        "SECURE_REFERRER_POLICY": "same-origin",
        "CONTENT_SECURITY_POLICY": DEFAULT_POLICY,
    }


def test_environment_tunes_the_production_defaults():
    values = read_security_settings(
        production_environment(
            SECURE_HSTS_SECONDS="600",
            SECURE_HSTS_PRELOAD="false",
            SECURE_SSL_REDIRECT="false",
            CONTENT_SECURITY_POLICY="default-src 'none'",
        )
    )
    assert values["SECURE_HSTS_SECONDS"] == 600
    assert values["SECURE_HSTS_PRELOAD"] is False
    assert values["SECURE_SSL_REDIRECT"] is False
    assert values["CONTENT_SECURITY_POLICY"] == "default-src 'none'"


def test_local_development_keeps_plain_http():
    """`make run` (DEBUG on) and `make test`/compose (SECURE_COOKIES=false) serve HTTP."""
    env = production_environment(DEBUG="true")
    del env["SECRET_KEY"]
    values = read_security_settings(env)
    assert values["SESSION_COOKIE_SECURE"] is False
    assert values["CSRF_COOKIE_SECURE"] is False
    assert values["SECURE_SSL_REDIRECT"] is False
    assert values["SECURE_HSTS_SECONDS"] == 0
    plain_http = read_security_settings(production_environment(SECURE_COOKIES="false"))
    assert plain_http["SESSION_COOKIE_SECURE"] is False
    assert plain_http["SECURE_SSL_REDIRECT"] is False


# --- Headers and the Content Security Policy ----------------------------------------------


def assert_inline_code_allowed(response) -> None:
    """Every inline <script>/<style> of the page is allowed by the page's own CSP."""
    policy = parse_policy(response["Content-Security-Policy"])
    html = response.content.decode()
    script_src = policy.get("script-src", policy["default-src"])
    style_src = policy.get("style-src", policy["default-src"])
    assert "'unsafe-inline'" not in script_src
    assert "'unsafe-eval'" not in script_src
    for digest in inline_script_hashes(html):
        assert digest in script_src, f"inline script {digest} is blocked"
    for block in _STYLE_BLOCK.findall(html):
        assert "'unsafe-inline'" in style_src or csp_hash(block) in style_src, block


def assert_security_headers(response) -> None:
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]


@pytest.mark.django_db
def test_a_normal_page_has_the_security_headers_and_the_default_policy(client):
    response = client.get("/")
    assert response.status_code == 200
    assert_security_headers(response)
    assert response["Content-Security-Policy"] == DEFAULT_POLICY
    assert_inline_code_allowed(response)


@pytest.mark.django_db
def test_api_responses_carry_the_headers_too(client):
    response = client.get("/api/health/")
    assert_security_headers(response)
    assert response["Content-Security-Policy"] == DEFAULT_POLICY


@pytest.mark.django_db
def test_admin_login_page_works_under_the_policy(client):
    response = client.get("/admin/login/")
    assert response.status_code == 200
    assert_security_headers(response)
    assert_inline_code_allowed(response)
    script_src = parse_policy(response["Content-Security-Policy"])["script-src"]
    assert script_src == ["'self'"]


def test_admin_inline_styles_are_hashed_from_the_installed_templates():
    hashes = static_inline_style_hashes(
        ("admin/change_list.html", "admin/guardian/model/obj_perms_manage.html")
    )
    assert len(hashes) == 2
    assert all(h.startswith("'sha256-") for h in hashes)


@pytest.mark.django_db
def test_admin_pages_for_staff_work_under_the_policy(admin_client):
    for url in ("/admin/", "/admin/auth/user/", "/admin/auth/user/add/", "/admin/auth/group/"):
        response = admin_client.get(url)
        assert response.status_code == 200, url
        assert_inline_code_allowed(response)
        style_src = parse_policy(response["Content-Security-Policy"])["style-src"]
        assert "'unsafe-inline'" not in style_src
        assert set(static_inline_style_hashes(("admin/change_list.html",))) <= set(style_src)


@pytest.mark.django_db
def test_swagger_ui_works_under_the_policy(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert_security_headers(response)
    assert_inline_code_allowed(response)
    policy = parse_policy(response["Content-Security-Policy"])
    (bootstrap,) = inline_script_hashes(response.content.decode())
    assert policy["script-src"] == ["'self'", bootstrap]
    # Swagger UI injects <style> elements at run time; a hash would disable this.
    assert policy["style-src"] == ["'self'", "'unsafe-inline'"]
    # Its bundle, preset and stylesheet are served by us (the sidecar), not a CDN.
    html = response.content.decode()
    assert "swagger-ui-bundle" in html
    assert "://" not in "".join(
        part.split('"')[0] for part in html.split('src="')[1:] + html.split('href="')[1:]
    )


@pytest.mark.django_db
def test_other_pages_do_not_get_the_docs_exceptions(client):
    response = client.get("/api/docs/extra/")
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]


@pytest.mark.django_db
def test_the_policy_comes_from_the_environment_setting(client):
    with override_settings(CONTENT_SECURITY_POLICY="default-src 'none'; img-src 'self'"):
        response = Client().get("/api/health/")
    assert response["Content-Security-Policy"] == "default-src 'none'; img-src 'self'"
    with override_settings(CONTENT_SECURITY_POLICY=""):
        response = Client().get("/api/health/")
    assert "Content-Security-Policy" not in response


@pytest.mark.django_db
def test_an_overriding_policy_still_lets_swagger_ui_run():
    with override_settings(CONTENT_SECURITY_POLICY="default-src 'self'"):
        response = Client().get("/api/docs/")
    policy = parse_policy(response["Content-Security-Policy"])
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"][0] == "'self'"
    assert len(policy["script-src"]) == 2
    assert_inline_code_allowed(response)


@pytest.mark.django_db
@override_settings(
    SECURE_HSTS_SECONDS=3600, SECURE_HSTS_INCLUDE_SUBDOMAINS=True, SECURE_HSTS_PRELOAD=True
)
def test_hsts_is_sent_over_https_with_the_configured_max_age():
    response = Client().get("/api/health/", secure=True)
    assert response["Strict-Transport-Security"] == "max-age=3600; includeSubDomains; preload"
    assert "Strict-Transport-Security" not in Client().get("/api/health/")


@pytest.mark.django_db
@override_settings(SECURE_SSL_REDIRECT=True)
def test_production_redirects_to_https_except_probes_and_metrics():
    client = Client()
    response = client.get("/admin/login/")
    assert response.status_code == 301
    assert response["Location"].startswith("https://")
    assert client.get("/api/health/").status_code != 301
    assert client.get("/metrics").status_code == 200
    proxied = client.get("/admin/login/", headers={"X-Forwarded-Proto": "https"})
    assert proxied.status_code == 200


# --- Cookies -----------------------------------------------------------------------------


@pytest.mark.django_db
@override_settings(SESSION_COOKIE_SECURE=True, CSRF_COOKIE_SECURE=True)
def test_production_cookies_are_secure_httponly_and_same_site(make_user):
    make_user("carol", is_staff=True)
    client = Client()
    login_page = client.get("/admin/login/", secure=True)
    csrf = login_page.cookies["csrftoken"]
    assert csrf["secure"] is True
    assert csrf["samesite"] == "Lax"
    response = client.post(
        "/admin/login/",
        {"username": "carol", "password": "carol-Password-1", "next": "/admin/"},
        secure=True,
    )
    session = response.cookies[settings.SESSION_COOKIE_NAME]
    assert session.value
    assert session["secure"] is True
    assert session["httponly"] is True
    assert session["samesite"] == "Lax"


# --- CSRF --------------------------------------------------------------------------------


def walk_views(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from walk_views(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry.callback


def test_no_view_is_csrf_exempt_except_drf_views_that_enforce_it_themselves():
    checked = 0
    for route, view in walk_views(get_resolver().url_patterns):
        if not getattr(view, "csrf_exempt", False):
            continue
        view_class = getattr(view, "cls", None)
        assert view_class is not None and issubclass(view_class, APIView), f"{route} is csrf_exempt"
        for auth in view_class().get_authenticators():
            # Session auth re-applies Django's CSRF check; a token is not sent by browsers.
            assert isinstance(auth, SessionAuthentication | TokenAuthentication), route
            if isinstance(auth, SessionAuthentication):
                assert type(auth).enforce_csrf is SessionAuthentication.enforce_csrf, route
        checked += 1
    assert checked > 5


@pytest.mark.django_db
def test_unsafe_browser_requests_without_a_csrf_token_are_refused(make_user):
    user = make_user("dave")
    browser = Client(enforce_csrf_checks=True)
    refused = browser.post("/admin/login/", {"username": "dave", "password": "dave-Password-1"})
    assert refused.status_code == 403
    browser.force_login(user)
    api = browser.post("/api/tokens/", {"name": "x"}, content_type="application/json")
    assert api.status_code == 403
    assert "CSRF" in api.json()["detail"]


# --- Secret masking in logs ------------------------------------------------------------------


@pytest.fixture
def masked_caplog(caplog):
    caplog.handler.addFilter(SecretMaskingFilter())
    caplog.set_level(logging.DEBUG)
    return caplog


def test_messages_and_arguments_are_masked(masked_caplog):
    log = logging.getLogger("central.test")
    log.info("calling binance api_key=%s api_secret=%s", "AKIA-plain-key", "s3cr3t-value")
    log.info("headers %s", {"Authorization": "Token 0123456789abcdef0123", "Accept": "json"})
    log.warning("password: hunter2; token='tok-123456'")
    log.info("db at postgres://central:pg-pass-42@db:5432/central")
    log.info("request %(method)s %(password)s", {"method": "POST", "password": "pw-9"})
    log.info("payload", extra={"api_key": "extra-key-1", "detail": {"secret": "nested-9"}})
    text = masked_caplog.text
    for secret in (
        "AKIA-plain-key",
        "s3cr3t-value",
        "0123456789abcdef0123",
        "hunter2",
        "tok-123456",
        "pg-pass-42",
        "pw-9",
    ):
        assert secret not in text, secret
    assert "api_key=***" in text
    assert "'Authorization': '***'" in text
    assert "'Accept': 'json'" in text
    assert "postgres://central:***@db" in text
    assert "request POST ***" in text
    record = masked_caplog.records[-1]
    assert record.api_key == MASK
    assert record.detail == {"secret": MASK}


def test_a_dict_argument_is_masked_recursively(masked_caplog):
    logging.getLogger("central.test").info(
        "credential %s",
        {"label": "main", "api_key": "K-1", "nested": {"api_secret": "S-1", "ok": [1, 2]}},
    )
    (record,) = masked_caplog.records
    assert record.getMessage() == (
        "credential {'label': 'main', 'api_key': '***', "
        "'nested': {'api_secret': '***', 'ok': [1, 2]}}"
    )


def test_an_exception_message_with_a_secret_is_masked(masked_caplog):
    log = logging.getLogger("central.test")
    try:
        raise RuntimeError("binance refused api_secret=S3CRET-xyz for key api_key: 'K3Y-abc'")
    except RuntimeError:
        log.exception("sync failed with token=%s", "T0KEN-42")
    text = masked_caplog.text
    assert "Traceback" in text
    assert "RuntimeError: binance refused api_secret=*** for key api_key: '***'" in text
    for secret in ("S3CRET-xyz", "K3Y-abc", "T0KEN-42"):
        assert secret not in text


def test_ordinary_messages_are_left_alone(masked_caplog):
    log = logging.getLogger("central.test")
    log.info("Token created for %s; password change page shown", "alice")
    log.info("synced %d candles for %s", 500, "BTCUSDT")
    assert [r.getMessage() for r in masked_caplog.records] == [
        "Token created for alice; password change page shown",
        "synced 500 candles for BTCUSDT",
    ]


def test_a_bad_format_string_does_not_break_logging(masked_caplog):
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%d token=%s", ("a",), None)
    assert SecretMaskingFilter().filter(record) is True


def test_settings_install_the_filter_on_every_root_handler():
    root = logging.getLogger()
    handlers = [h for h in root.handlers if not type(h).__module__.startswith("_pytest")]
    assert handlers
    for handler in handlers:
        assert any(isinstance(f, SecretMaskingFilter) for f in handler.filters), handler
    for name in settings.LOGGING["root"]["handlers"]:
        assert "mask_secrets" in settings.LOGGING["handlers"][name]["filters"]
    assert settings.CELERY_WORKER_HIJACK_ROOT_LOGGER is False


def test_the_configured_console_output_is_masked():
    root = logging.getLogger()
    (console,) = [h for h in root.handlers if isinstance(h, logging.StreamHandler)][:1]
    stream = io.StringIO()
    previous = console.setStream(stream)
    try:
        logging.getLogger("django.request").error(
            "Internal Server Error: /api/credentials/?api_key=%s", "LEAKED-1"
        )
        logging.getLogger("celery.task").warning("task got %s", {"api_secret": "LEAKED-2"})
    finally:
        console.setStream(previous)
    output = stream.getvalue()
    assert "LEAKED" not in output
    assert "api_key=***" in output
    assert "'api_secret': '***'" in output
