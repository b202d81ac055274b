"""WSGI entry point (the platform is served over ASGI; this exists for tooling)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "central.settings")
application = get_wsgi_application()
