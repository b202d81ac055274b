from django.apps import AppConfig


class CentralConfig(AppConfig):
    name = "central"
    verbose_name = "Central platform"

    def ready(self) -> None:
        # The platform metrics join django-prometheus's registry, served at /metrics.
        from central.metrics.collector import register_platform_collector

        register_platform_collector()
