"""Browser pages of replay."""

urlpatterns: list = []
