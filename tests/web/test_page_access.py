"""Every analyst page needs a signed-in user: anonymous visitors are sent to sign in
(and come back afterwards), whatever the page and whether or not the object exists."""

from urllib.parse import quote

import pytest
from django.urls import URLPattern, get_resolver

import accounts.settings_urls
import backtest.web_urls
import marketdata.web_urls
import replay.web_urls

pytestmark = pytest.mark.django_db

PAGE_MODULES = {
    "": [backtest.web_urls, marketdata.web_urls, replay.web_urls],
    "settings/": [accounts.settings_urls],
}


def page_paths() -> list[str]:
    """One concrete path per page route (object ids filled with 1)."""
    paths = []
    for prefix, modules in PAGE_MODULES.items():
        for module in modules:
            for pattern in module.urlpatterns:
                assert isinstance(pattern, URLPattern), pattern
                route = str(pattern.pattern)
                for name in pattern.pattern.converters:
                    route = route.replace(f"<int:{name}>", "1").replace(f"<str:{name}>", "x")
                paths.append("/" + prefix + route)
    return paths


def test_every_page_module_is_listed_here():
    """A new module of pages mounted in central/urls.py must be added to PAGE_MODULES, so
    its pages are checked below; the API, the admin and the sign-in pages have their own
    tests."""
    not_pages = ("api/", "admin/", "accounts/")
    mounted = set()
    for entry in get_resolver().url_patterns:
        module = getattr(entry, "urlconf_module", None)
        if module is None or str(entry.pattern).startswith(not_pages):
            continue
        mounted.add(module.__name__)
    listed = {module.__name__ for group in PAGE_MODULES.values() for module in group}
    assert mounted == listed
    assert len(page_paths()) >= 12


@pytest.mark.parametrize("path", page_paths())
def test_anonymous_visitors_are_sent_to_sign_in(client, path):
    response = client.get(path)

    assert response.status_code == 302, path
    assert response.headers["Location"] == f"/accounts/login/?next={quote(path)}"
