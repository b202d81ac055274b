"""The admin's queue page (/admin/queues/): a thin view over `central.queue_status`.

Mounted from `central/urls.py` ahead of the admin's own URLs and wrapped in
`admin.site.admin_view`, so it asks for what every admin page asks for (an active staff
account, else the admin's sign-in page) and is never cached. It only reads.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import path

from central.queue_status import queue_page


def queues_view(request: HttpRequest) -> TemplateResponse:
    context = {
        **admin.site.each_context(request),
        "title": "Queues",
        "page": queue_page(),
    }
    return TemplateResponse(request, "admin/queues.html", context)


urlpatterns = [path("", admin.site.admin_view(queues_view), name="admin-queues")]
