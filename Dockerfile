# CRISP production image: one image for web (gunicorn), worker and beat (see docker-compose.yml).

# --- dashboard: built only when frontend/package.json exists (an empty dist otherwise) -------------
FROM node:20-slim AS frontend
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/root/.npm \
    if [ -f frontend/package.json ]; then \
      cd frontend \
      && if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi \
      && npm run build; \
    fi \
    && mkdir -p /src/frontend/dist

# --- application ------------------------------------------------------------------------------
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CRISP_VAR_DIR=/app/var
WORKDIR /app

RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin crisp

COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY . .
COPY --from=frontend /src/frontend/dist/ ./frontend/dist/
# Static files (admin, DRF, Swagger UI, the dashboard) are collected into the image; WhiteNoise serves them.
RUN python manage.py collectstatic --noinput --verbosity 0 \
    && mkdir -p /app/var && chown crisp /app/var

USER crisp
EXPOSE 8000
CMD ["gunicorn", "crisp.asgi:application", "-k", "uvicorn_worker.UvicornWorker", "--bind", "0.0.0.0:8000", \
     "--workers", "2", "--graceful-timeout", "5", "--access-logfile", "-", "--no-control-socket"]
