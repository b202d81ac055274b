"""Rate limits of the accounts API beyond the project-wide anonymous and per-user ones."""

from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle

# Used when REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] does not name the view's scope.
DEFAULT_SCOPE_RATES = {"tokens": "20/min", "credential_checks": "10/min"}


class ConfiguredScopedRateThrottle(ScopedRateThrottle):
    """ScopedRateThrottle whose rates are read at each request (DRF's are read once, at
    import), with a built-in default per scope instead of an error when unconfigured."""

    def get_rate(self):
        rates = api_settings.DEFAULT_THROTTLE_RATES or {}
        if self.scope in rates:
            return rates[self.scope]
        if self.scope in DEFAULT_SCOPE_RATES:
            return DEFAULT_SCOPE_RATES[self.scope]
        return super().get_rate()
