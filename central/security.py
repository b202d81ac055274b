"""Content Security Policy header (Django 5.2 has no built-in CSP).

`ContentSecurityPolicyMiddleware` sends settings.CONTENT_SECURITY_POLICY on every
response that does not set its own. The default policy allows no inline script or
style at all; two third-party pages need exceptions, and get them on their own paths
only:

- The Django admin (and django-guardian's object-permission screens) have a few
  static inline `<style>` blocks. Their sha256 hashes are computed from the installed
  templates' source at start-up and added to `style-src` under the admin's path; no
  inline script is allowed there.
- drf-spectacular's Swagger UI (`api-docs`) boots from one inline `<script>` rendered
  from the settings (the only request input in it, `?lang`/`?version`, is URL-encoded
  into a string). Its sha256 hash is added to `script-src` for that page. Swagger UI
  also injects `<style>` elements while it runs, whose content no hash can anticipate,
  so that page alone gets `style-src 'unsafe-inline'` (styles cannot run code).

An empty CONTENT_SECURITY_POLICY turns the header off.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.template import TemplateDoesNotExist
from django.template.loader import get_template
from django.urls import NoReverseMatch, reverse

HEADER = "Content-Security-Policy"
# Third-party admin templates with static inline <style> blocks.
ADMIN_INLINE_STYLE_TEMPLATES = (
    "admin/change_list.html",
    "admin/guardian/model/obj_perms_manage.html",
)
_STYLE_BLOCK = re.compile(r"<style\b[^>]*>(.*?)</style>", re.DOTALL | re.IGNORECASE)
_INLINE_SCRIPT = re.compile(
    r"<script\b(?![^>]*\bsrc=)(?P<attrs>[^>]*)>(?P<body>.*?)</script>", re.DOTALL | re.IGNORECASE
)
_TEMPLATE_SYNTAX = ("{%", "{{", "{#")


def parse_policy(policy: str) -> dict[str, list[str]]:
    """{directive: [sources]} in the order written; empty directives are dropped."""
    parsed: dict[str, list[str]] = {}
    for part in policy.split(";"):
        tokens = part.split()
        if tokens:
            parsed[tokens[0].lower()] = tokens[1:]
    return parsed


def render_policy(policy: dict[str, list[str]]) -> str:
    return "; ".join(" ".join([name, *sources]) for name, sources in policy.items())


def csp_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode()).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


def extend(policy: dict[str, list[str]], directive: str, sources: list[str]) -> None:
    """Add sources to a directive, starting from default-src when it is not written."""
    current = policy.get(directive)
    if current is None:
        current = list(policy.get("default-src", []))
    if "'none'" in current:
        current = [s for s in current if s != "'none'"]
    policy[directive] = current + [s for s in sources if s not in current]


def static_inline_style_hashes(template_names: tuple[str, ...]) -> list[str]:
    """Hashes of the inline <style> blocks of templates, when those blocks are static."""
    hashes: list[str] = []
    for name in template_names:
        try:
            source = get_template(name).template.source
        except (TemplateDoesNotExist, AttributeError):
            continue
        for block in _STYLE_BLOCK.findall(source):
            if not any(tag in block for tag in _TEMPLATE_SYNTAX):
                hashes.append(csp_hash(block))
    return sorted(set(hashes))


def inline_script_hashes(html: str) -> list[str]:
    """Hashes of the executable inline <script> blocks of an HTML page."""
    hashes = []
    for match in _INLINE_SCRIPT.finditer(html):
        if re.search(r"\btype\s*=\s*[\"']?application/(?:ld\+)?json", match["attrs"], re.I):
            continue  # data, not code
        hashes.append(csp_hash(match["body"]))
    return hashes


def _reverse_or_none(name: str) -> str | None:
    try:
        return reverse(name)
    except NoReverseMatch:
        return None


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response
        self.policy = parse_policy(getattr(settings, "CONTENT_SECURITY_POLICY", ""))
        self._paths: tuple[str | None, str | None] | None = None
        self._admin_style_hashes: list[str] | None = None

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if self.policy and HEADER not in response:
            response[HEADER] = render_policy(self.policy_for(request, response))
        return response

    def paths(self) -> tuple[str | None, str | None]:
        """(admin prefix, Swagger UI path), resolved once the URLconf is loaded."""
        if self._paths is None:
            self._paths = (_reverse_or_none("admin:index"), _reverse_or_none("api-docs"))
        return self._paths

    def admin_style_hashes(self) -> list[str]:
        if self._admin_style_hashes is None:
            self._admin_style_hashes = static_inline_style_hashes(ADMIN_INLINE_STYLE_TEMPLATES)
        return self._admin_style_hashes

    def policy_for(self, request: HttpRequest, response: HttpResponse) -> dict[str, list[str]]:
        policy = {name: list(sources) for name, sources in self.policy.items()}
        admin_prefix, docs_path = self.paths()
        is_html = "html" in response.get("Content-Type", "")
        if admin_prefix and request.path.startswith(admin_prefix):
            hashes = self.admin_style_hashes()
            if hashes:
                extend(policy, "style-src", hashes)
        elif docs_path and request.path == docs_path and is_html and not response.streaming:
            html = response.content.decode(response.charset or "utf-8", errors="replace")
            hashes = inline_script_hashes(html)
            if hashes:
                extend(policy, "script-src", hashes)
            # 'unsafe-inline' is ignored next to a hash or nonce: drop those here.
            style = policy.get("style-src", policy.get("default-src", []))
            policy["style-src"] = [s for s in style if not s.startswith(("'sha", "'nonce"))]
            extend(policy, "style-src", ["'unsafe-inline'"])
        return policy
