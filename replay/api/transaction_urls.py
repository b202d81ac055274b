"""Routes of the transactions API (imports and the trader's fills), mounted under /api/."""

urlpatterns: list = []
