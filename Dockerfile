# syntax=docker/dockerfile:1
# Sales CRM API: build a wheel and a virtual environment, then copy only the venv, the
# migrations and alembic.ini into a slim runtime image that runs as a non-root user.

FROM python:3.11-slim AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
RUN python -m pip wheel --no-deps --wheel-dir /wheels . \
 && python -m venv /opt/venv \
 && /opt/venv/bin/pip install /wheels/*.whl

FROM python:3.11-slim AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CRM_ENV=production \
    CRM_MIGRATIONS_DIR=/app/migrations
RUN groupadd --system --gid 10001 crm \
 && useradd --system --uid 10001 --gid crm --home-dir /app --shell /usr/sbin/nologin crm
WORKDIR /app
COPY --from=builder /opt/venv /opt/venv
COPY alembic.ini ./
COPY migrations ./migrations
# ./var holds the SQLite database when CRM_DATABASE_URL is not set; mount a volume there.
RUN mkdir -p /app/var && chown crm:crm /app/var
VOLUME ["/app/var"]
USER crm
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
# CRM_SECRET_KEY (32+ characters) must be given at run time: with CRM_ENV=production the
# service refuses to start without it.
CMD ["sh", "-c", "crm migrate && exec crm serve --host 0.0.0.0 --port 8000"]
