"""Forgetting cached content types, for long-lived processes that outlive them.

Django caches ContentType rows per process and django-guardian keeps its own
(app label, codename) → content type map. A process that lives across a `migrate` adding
models, or across the test suite's flushes (which recreate content types with new ids),
would otherwise write audit entries and check object permissions against stale ids."""

from django.contrib.contenttypes.models import ContentType
from guardian.shortcuts import clear_ct_cache


def clear_content_type_caches() -> None:
    ContentType.objects.clear_cache()
    clear_ct_cache()
