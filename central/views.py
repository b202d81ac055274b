"""Server-rendered pages of the project itself (the analysts' UI lives in the apps)."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from marketdata.selectors import stored_series


def home(request: HttpRequest) -> HttpResponse:
    """Where a browser lands: links to the admin and the API, and, for signed-in users,
    what data is stored (the catalogue is not public, as in the API)."""
    series = stored_series() if request.user.is_authenticated else None
    return render(request, "home.html", {"series": series})
