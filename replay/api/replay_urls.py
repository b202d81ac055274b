"""Routes of the replays API, mounted under /api/."""

urlpatterns: list = []
