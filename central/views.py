"""Server-rendered pages of the project itself (the analysts' UI lives in the apps)."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from marketdata.selectors import stored_series


def home(request: HttpRequest) -> HttpResponse:
    """Where a browser lands: links to the admin and the API, and what data is stored."""
    return render(request, "home.html", {"series": stored_series()})
