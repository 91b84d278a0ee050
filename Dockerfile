# syntax=docker/dockerfile:1
# Inkwell: build a wheel in one stage, run it as a non-root user in a slim one.
# The container migrates the database, then serves with INKWELL_WORKERS uvicorn workers
# (more than one needs INKWELL_REDIS_URL, so stop flags and limits are shared).

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --upgrade pip \
 && /opt/venv/bin/pip install .

FROM python:3.11-slim AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    INKWELL_ENV=production \
    INKWELL_ALEMBIC_DIR=/app/alembic \
    INKWELL_DATABASE_URL=sqlite+aiosqlite:////app/var/inkwell.db \
    INKWELL_WORKERS=1
RUN groupadd --system inkwell && useradd --system --gid inkwell --home-dir /app inkwell
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY alembic ./alembic
COPY examples ./examples
RUN mkdir -p /app/var && chown -R inkwell:inkwell /app
USER inkwell
EXPOSE 5001
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:5001/healthz', timeout=2).status == 200 else 1)"
CMD ["sh", "-c", "inkwell db upgrade && exec inkwell serve --host 0.0.0.0 --port 5001 --workers ${INKWELL_WORKERS}"]
