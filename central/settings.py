"""Settings for Central, read from the environment (12-factor).

Production-safe by default: DEBUG is off and SECRET_KEY must be given unless DEBUG is on.
`make run` and `make test` export the variables they need (see central/devstack.py).
"""

import ipaddress
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from central.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = "insecure-development-key-only-used-with-DEBUG-on"
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

# daphne is started directly (see Makefile / devstack); its app only adds `runserver`.
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "guardian",
    "auditlog",
    "django_prometheus",
    "central",
    "accounts",
    "audit",
    "marketdata",
    "backtest",
    "replay",
]

MIDDLEWARE = [
    # First, so every later middleware's log lines carry the request's correlation id.
    "central.correlation.CorrelationIdMiddleware",
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "central.security.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "auditlog.middleware.AuditlogMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "central.urls"
ASGI_APPLICATION = "central.asgi.application"
WSGI_APPLICATION = "central.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Data stores -------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", "postgres://central:central@127.0.0.1:5432/central")
DATABASES = {
    "default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))
}
DATABASES["default"]["ENGINE"] = "django_prometheus.db.backends.postgresql"
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"].setdefault("TEST", {})
if env_str("TEST_DATABASE_NAME"):
    DATABASES["default"]["TEST"]["NAME"] = env_str("TEST_DATABASE_NAME")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# "auto" detects the TimescaleDB extension at migrate time; "off" never uses it.
TIMESCALEDB = env_str("TIMESCALEDB", "auto")
if TIMESCALEDB not in {"auto", "off"}:
    raise ImproperlyConfigured("TIMESCALEDB must be 'auto' or 'off'")

REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "central"),
    }
}
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": env_str("CHANNELS_PREFIX", "asgi")},
    }
}

# --- Celery ------------------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", REDIS_URL)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_TRACK_STARTED = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "marketdata.tasks.*": {"queue": "marketdata"},
    "backtest.tasks.*": {"queue": "backtests"},
    "replay.tasks.*": {"queue": "replays"},
}
MARKET_SYNC_INTERVAL_SECONDS = env_int("MARKET_SYNC_INTERVAL_SECONDS", 60)
CELERY_BEAT_SCHEDULE = {
    "sync-watched-symbols": {
        "task": "marketdata.tasks.sync_watched_symbols",
        "schedule": MARKET_SYNC_INTERVAL_SECONDS,
    },
    "reap-stale-backtests": {
        "task": "backtest.tasks.reap_stale_backtests",
        "schedule": 60,
    },
    "reap-stale-replays": {
        "task": "replay.tasks.reap_stale_replays",
        "schedule": 60,
    },
}

# --- Audit -------------------------------------------------------------------------
# `manage.py purge_audit` deletes audit entries and security events older than this.
AUDIT_RETENTION_DAYS = env_int("AUDIT_RETENTION_DAYS", 365)
# `manage.py purge_runs` and the admin's purge actions delete finished backtests, sweeps,
# replays and sync runs (with their results) that finished longer ago than this.
RUN_RETENTION_DAYS = env_int("RUN_RETENTION_DAYS", 90)

# --- Backtests ---------------------------------------------------------------------
# How many backtests one user may have running at once; the rest wait their turn, so
# one analyst's sweep cannot take every worker.
BACKTEST_MAX_RUNNING_PER_USER = env_int("BACKTEST_MAX_RUNNING_PER_USER", 2)
BACKTEST_SLOT_RETRY_SECONDS = env_int("BACKTEST_SLOT_RETRY_SECONDS", 2)
BACKTEST_TIME_LIMIT_SECONDS = env_int("BACKTEST_TIME_LIMIT_SECONDS", 1800)
# A running backtest that has not reported progress for this long lost its worker.
BACKTEST_STALE_AFTER_SECONDS = env_int("BACKTEST_STALE_AFTER_SECONDS", 300)

# --- Binance -----------------------------------------------------------------------
# Base URLs are settings so tests (and testnets) point python-binance elsewhere.
BINANCE_API_URL = env_str("BINANCE_API_URL", "https://api.binance.com/api")
BINANCE_WS_URL = env_str("BINANCE_WS_URL", "wss://stream.binance.com:9443/")
# Where credentials for the "Binance testnet" exchange are checked and used.
BINANCE_TESTNET_API_URL = env_str("BINANCE_TESTNET_API_URL", "https://testnet.binance.vision/api")
BINANCE_REQUEST_TIMEOUT = env_int("BINANCE_REQUEST_TIMEOUT", 10)
BINANCE_MAX_RETRIES = env_int("BINANCE_MAX_RETRIES", 5)
# Stay below Binance's 6000 weight/minute request-weight limit.
BINANCE_WEIGHT_LIMIT = env_int("BINANCE_WEIGHT_LIMIT", 5000)
# The live stream (stream_market): a connection silent this long is taken for dead and
# replaced; reconnects wait a random time up to base * 2^attempt, capped at max.
STREAM_SILENCE_SECONDS = env_int("STREAM_SILENCE_SECONDS", 60)
STREAM_BACKOFF_BASE_SECONDS = env_int("STREAM_BACKOFF_BASE_SECONDS", 1)
STREAM_BACKOFF_MAX_SECONDS = env_int("STREAM_BACKOFF_MAX_SECONDS", 60)

# --- Secrets at rest (django-cryptography) ----------------------------------------
CRYPTOGRAPHY_KEY = env_str("FIELD_ENCRYPTION_KEY") or None
CRYPTOGRAPHY_SALT = env_str("FIELD_ENCRYPTION_SALT", "central-field-encryption")

# --- Auth and permissions ----------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    # ModelBackend plus the failed-login lockout (accounts/lockout.py).
    "accounts.lockout.LockoutModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
# After this many failed logins for one username within LOGIN_LOCKOUT_SECONDS (or
# LOGIN_LOCKOUT_IP_ATTEMPTS from one address), logins are refused for LOGIN_LOCKOUT_SECONDS.
LOGIN_LOCKOUT_ATTEMPTS = env_int("LOGIN_LOCKOUT_ATTEMPTS", 5)
LOGIN_LOCKOUT_IP_ATTEMPTS = env_int("LOGIN_LOCKOUT_IP_ATTEMPTS", 20)
LOGIN_LOCKOUT_SECONDS = env_int("LOGIN_LOCKOUT_SECONDS", 900)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# The sign-in and password pages (accounts/web_urls.py); signing out is a POST.
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

REST_FRAMEWORK = {
    # Token first: DRF takes the WWW-Authenticate challenge from the first class, so an
    # unauthenticated request gets 401 (with "Token"), not 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "central.authentication.AuditedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_str("THROTTLE_ANON_RATE", "60/min"),
        "user": env_str("THROTTLE_USER_RATE", "1000/min"),
        "tokens": env_str("THROTTLE_TOKENS_RATE", "20/min"),  # creating API tokens
        # checking exchange credentials with the exchange (each costs request weight)
        "credential_checks": env_str("THROTTLE_CREDENTIAL_CHECKS_RATE", "10/min"),
    },
    # Proxies in front whose X-Forwarded-For is trusted (throttles, login lockout).
    # 0 = the direct peer's address; set 1 behind the ingress.
    "NUM_PROXIES": env_int("NUM_PROXIES", 0),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Central API",
    "DESCRIPTION": "Crypto trading research: market data, backtests, replays.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI's assets come from the sidecar package: nothing is fetched from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- E-mail (password reset links) -------------------------------------------------
# The console backend prints mail, reset links included, to the process's output; set
# an SMTP backend in production.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Central <noreply@localhost>")
# With EMAIL_BACKEND=django.core.mail.backends.smtp.EmailBackend:
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = 10

# --- Upload limits -----------------------------------------------------------------
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 10 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = env_int("FILE_UPLOAD_MAX_MEMORY_SIZE", 10 * 1024 * 1024)
MARKET_IMPORT_MAX_UPLOAD_BYTES = env_int("MARKET_IMPORT_MAX_UPLOAD_BYTES", 200 * 1024 * 1024)

# --- Health ------------------------------------------------------------------------
HEALTH_DISK_PATH = env_str("HEALTH_DISK_PATH", str(BASE_DIR))
HEALTH_DISK_MIN_FREE_MB = env_int("HEALTH_DISK_MIN_FREE_MB", 500)
HEALTH_CELERY_TIMEOUT = float(env_str("HEALTH_CELERY_TIMEOUT", "1.0"))

# --- Internationalisation, static --------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / ".state" / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- Security ----------------------------------------------------------------------
# Production defaults apply whenever DEBUG is off; `make run` (DEBUG on) and
# `make test` (SECURE_COOKIES=false) serve plain HTTP on 127.0.0.1. `manage.py check
# --deploy` is clean with DEBUG off, a long SECRET_KEY and ALLOWED_HOSTS set. See
# README "Security settings".
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = env_str("SECURE_REFERRER_POLICY", "same-origin")
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
# Secure-only cookies and the HTTP->HTTPS redirect break plain-HTTP serving: cookies
# follow DEBUG unless SECURE_COOKIES is set, and the redirect follows the cookies (a
# site with secure cookies is served over HTTPS; `make run`/`make test` and compose set
# SECURE_COOKIES=false). Behind a TLS-terminating proxy, it must send X-Forwarded-Proto
# (SECURE_PROXY_SSL_HEADER) or the redirect loops.
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", SESSION_COOKIE_SECURE)
# Probes (kubelet, Docker HEALTHCHECK) and Prometheus scrape over plain HTTP in-cluster.
SECURE_REDIRECT_EXEMPT = [r"^api/health/$", r"^metrics$"]
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
# Sent by central.security.ContentSecurityPolicyMiddleware (empty: no header). The admin
# and Swagger UI (/api/docs/) get the few inline exceptions they need on their paths.
CONTENT_SECURITY_POLICY = env_str(
    "CONTENT_SECURITY_POLICY",
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'self'; "
    "form-action 'self'",
)

# --- Logging -----------------------------------------------------------------------
# Every record goes through the root "console" handler, whose filters mask secrets
# (central/logging_filters.py) and add the correlation id (central/correlation.py).
# Django's own loggers and Celery's (worker, task) loggers are routed there too instead
# of to handlers of their own, so a worker's lines have the web's format.
# LOG_FORMAT: "json" (one object per line, for collectors; the default with DEBUG off)
# or "plain" (readable text; the default with DEBUG on, i.e. `make run`).
LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOG_FORMAT = env_str("LOG_FORMAT", "plain" if DEBUG else "json")
if LOG_FORMAT not in {"json", "plain"}:
    raise ImproperlyConfigured("LOG_FORMAT must be 'json' or 'plain'")
# The header a request's correlation id is read from (if sane) and answered in.
REQUEST_ID_HEADER = env_str("REQUEST_ID_HEADER", "X-Request-ID")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "mask_secrets": {"()": "central.logging_filters.SecretMaskingFilter"},
        "correlation": {"()": "central.correlation.CorrelationIdFilter"},
    },
    "formatters": {
        "plain": {"()": "central.log_format.plain_formatter"},
        "json": {"()": "central.log_format.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["mask_secrets", "correlation"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "django": {"handlers": [], "level": LOG_LEVEL, "propagate": True},
        "django.server": {"handlers": [], "propagate": True},
        "celery.task": {"handlers": ["console"], "propagate": False},
    },
}
# Keep the handlers above in Celery processes (Celery would replace the root's).
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Metrics -----------------------------------------------------------------------
# /metrics (central/metrics/access.py) answers a peer address in these networks (the TCP
# peer, never X-Forwarded-For) or a request with "Authorization: Bearer METRICS_TOKEN";
# anyone else gets 403. Default: loopback only, tokens off. Behind a proxy or ingress do
# not allow the proxy's network: give Prometheus the token.
METRICS_TOKEN = env_str("METRICS_TOKEN")
METRICS_ALLOWED_NETWORKS = env_list("METRICS_ALLOWED_NETWORKS", "127.0.0.1/32,::1/128")
for _network in METRICS_ALLOWED_NETWORKS:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"METRICS_ALLOWED_NETWORKS: {_network!r} is not an IP address or CIDR network"
        ) from None
# The run duration histograms cover the runs that finished this long ago or less.
METRICS_DURATION_WINDOW_SECONDS = env_int("METRICS_DURATION_WINDOW_SECONDS", 86400)
