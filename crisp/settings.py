"""Django settings for CRISP. Every environment variable the project reads is read here."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("CRISP_VAR_DIR", BASE_DIR / "var"))


def _env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def _env_port(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise ValueError(f"{name}={value!r} is not a TCP port number (1-65535)")
    return int(value)


DEBUG = _env_bool("DEBUG", False)
# A fixed key is only acceptable for the embedded, loopback-only setup; deployments set SECRET_KEY.
SECRET_KEY = os.environ.get("SECRET_KEY", "crisp-insecure-development-key-set-SECRET_KEY-in-production")
ALLOWED_HOSTS = _env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1],testserver")
CSRF_TRUSTED_ORIGINS = _env_list("CSRF_TRUSTED_ORIGINS", "http://127.0.0.1:8000,http://localhost:8000")

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
    "django_celery_beat",
    "threat_feeds",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "threat_feeds.api.middleware.ApiLimitsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "crisp.middleware.SyncChainMiddleware",  # innermost: one thread hand-off per request under ASGI
]

ROOT_URLCONF = "crisp.urls"
WSGI_APPLICATION = "crisp.wsgi.application"
ASGI_APPLICATION = "crisp.asgi.application"  # what `make run` and docker-compose serve (uvicorn workers)

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

# --- database -------------------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'crisp.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # WAL + a busy timeout let the web process and the worker share the file; a named test
    # database (not :memory:) lets the test suite's real worker process see it too.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test_crisp.sqlite3")}
# Under the ASGI web server (crisp/asgi.py sets CRISP_SERVER=asgi) each request runs its sync code in
# a thread of its own: a connection kept per thread would pile up until PostgreSQL refuses more, so
# the web process shares a small pool instead (psycopg_pool). Workers keep persistent connections.
if os.environ.get("CRISP_SERVER") == "asgi" and DATABASES["default"]["ENGINE"].endswith("postgresql"):
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 2,
        "max_size": int(os.environ.get("CRISP_DB_POOL_SIZE", "10")),
        "timeout": 10,
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- redis: broker, live progress, cancel signals ---------------------------------------
# Unset REDIS_URL means the embedded redis-server (crisp/embedded_redis.py) on a private socket.
REDIS_URL = os.environ.get("REDIS_URL") or f"unix://{VAR_DIR / 'redis.sock'}?db=0"


def _celery_url(url: str) -> str:
    if url.startswith("unix://"):
        return "redis+socket://" + url[len("unix://") :]
    return url


CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "crisp",
        "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"},
    }
}

CELERY_BROKER_URL = _celery_url(REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = False
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Runs acknowledge their message when they start (acks_late off: a run can last longer than any
# visibility timeout, and the database, not the broker, knows where it stands). The timeout only
# bounds how long a message reserved by a worker that then died stays invisible; a message
# delivered twice is harmless (the run is claimed atomically, the second delivery returns).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": int(os.environ.get("CRISP_BROKER_VISIBILITY_TIMEOUT", "120")),
}
# Housekeeping (reaper, cancel escalation) has a queue and worker of its own: ingest runs can
# occupy every process of the main workers, and a cancel must never wait for one to free up.
CRISP_CONTROL_QUEUE = os.environ.get("CRISP_CONTROL_QUEUE", "crisp.control")
CELERY_TASK_ROUTES = {"threat_feeds.reap_stale_runs_task": {"queue": CRISP_CONTROL_QUEUE}}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"

# --- `make run` (crisp/stack.py) ----------------------------------------------------------
# Port of the web server. Beware: honcho gives each Procfile process type its own PORT (+100 per
# type), so inside the worker/beat/demo processes this is not the web's port; only crisp/stack.py
# and what it runs before honcho (bootstrap) see the real one.
PORT = _env_port("PORT") or 8000
# Port of the local demo TAXII server. Unset: PORT+1, or a free port when that one is taken;
# crisp/stack.py decides and exports CRISP_DEMO_TAXII_PORT to every process it starts, so the web,
# the workers, bootstrap (which keeps the demo feed's URL on it) and the server itself agree.
CRISP_DEMO_TAXII_PORT_REQUESTED = _env_port("CRISP_DEMO_TAXII_PORT")
CRISP_DEMO_TAXII_PORT = CRISP_DEMO_TAXII_PORT_REQUESTED or PORT + 1
# The demo server's base URL: the one loopback origin allowed without CRISP_ALLOW_PRIVATE_FEED_URLS.
CRISP_DEMO_TAXII_URL = f"http://127.0.0.1:{CRISP_DEMO_TAXII_PORT}/"

# --- CRISP behaviour ---------------------------------------------------------------------
CRISP_ALLOW_PRIVATE_FEED_URLS = _env_bool("CRISP_ALLOW_PRIVATE_FEED_URLS", False)
CRISP_CANCEL_GRACE_SECONDS = float(os.environ.get("CRISP_CANCEL_GRACE_SECONDS", "10"))
CRISP_HEARTBEAT_TIMEOUT_SECONDS = float(os.environ.get("CRISP_HEARTBEAT_TIMEOUT_SECONDS", "45"))
CRISP_CANCEL_THROTTLE = os.environ.get("CRISP_CANCEL_THROTTLE", "20/min")
# Failed logins (token and session) per username + client address; 429 with Retry-After beyond.
CRISP_LOGIN_THROTTLE = os.environ.get("CRISP_LOGIN_THROTTLE", "10/min")
# Uploaded bundles (plain, and inflated when gzip): 413 beyond; checked as JSON on upload.
CRISP_MAX_UPLOAD_BYTES = int(os.environ.get("CRISP_MAX_UPLOAD_BYTES", str(256 * 1024 * 1024)))
# Deepest JSON nesting accepted in a request body or an uploaded bundle (STIX needs < 20).
CRISP_MAX_JSON_DEPTH = int(os.environ.get("CRISP_MAX_JSON_DEPTH", "64"))
# Any other /api/ request body (Django's own limit for form data), and the longest URL (414 beyond).
CRISP_MAX_REQUEST_BYTES = int(os.environ.get("CRISP_MAX_REQUEST_BYTES", str(2_621_440)))
DATA_UPLOAD_MAX_MEMORY_SIZE = CRISP_MAX_REQUEST_BYTES
CRISP_MAX_URL_LENGTH = 8192
# A feed's `settings` object, serialised (source options only: a few hundred bytes in practice).
CRISP_MAX_FEED_SETTINGS_BYTES = 16 * 1024
# Interrupt a task blocked in a network read the moment it is cancelled (SIGUSR2 in its process).
# Off only where tasks do not run in a process's main thread (e.g. the threads pool).
CRISP_INTERRUPT_BLOCKING_CALLS = _env_bool("CRISP_INTERRUPT_BLOCKING_CALLS", True)
CRISP_STORE_BATCH_SIZE = 1000
# Store threads per run on PostgreSQL, each with its own connection: PostgreSQL merges that many
# batches at once (bench/ingest.py). SQLite always uses one.
CRISP_STORE_LANES = int(os.environ.get("CRISP_STORE_LANES", "2"))
CRISP_INVALID_SAMPLES_KEPT = 10
CRISP_REAPER_INTERVAL = timedelta(seconds=15)
# A run whose worker died is resumed from its feed's cursor at most this many times in a row.
CRISP_AUTO_RESUME_ATTEMPTS = int(os.environ.get("CRISP_AUTO_RESUME_ATTEMPTS", "3"))
# A queued run whose message the broker no longer holds (purged, Redis restarted without
# persistence) is re-enqueued after this long, at most CRISP_MAX_REQUEUES times, then failed.
CRISP_QUEUED_LOST_SECONDS = float(os.environ.get("CRISP_QUEUED_LOST_SECONDS", "60"))
CRISP_MAX_REQUEUES = int(os.environ.get("CRISP_MAX_REQUEUES", "3"))
# After Celery terminates a run's process, how long to wait for it to be gone before the run
# is finalised anyway (a late batch is refused: it finds the run no longer active).
CRISP_TERMINATE_WAIT_SECONDS = float(os.environ.get("CRISP_TERMINATE_WAIT_SECONDS", "5"))
# Live stream (GET /api/threat-feeds/tasks/stream/): a comment line after this many idle seconds, at
# most one event per run per CRISP_STREAM_MIN_INTERVAL_SECONDS (status changes at once), and the
# browser's reconnection delay.
CRISP_STREAM_HEARTBEAT_SECONDS = float(os.environ.get("CRISP_STREAM_HEARTBEAT_SECONDS", "15"))
CRISP_STREAM_MIN_INTERVAL_SECONDS = float(os.environ.get("CRISP_STREAM_MIN_INTERVAL_SECONDS", "0.25"))
CRISP_STREAM_RETRY_MS = 2000
# How often an open stream checks that its session or token still holds (ends it otherwise).
CRISP_STREAM_REAUTH_SECONDS = float(os.environ.get("CRISP_STREAM_REAUTH_SECONDS", "5"))

# --- limits against hostile feeds (docs/SECURITY-sources.md) -------------------------------
# What one response or page of a feed may be (compressed on the wire and inflated), and one
# streamed bundle (inflated: a small gzip may inflate a thousandfold).
CRISP_MAX_RESPONSE_BYTES = int(os.environ.get("CRISP_MAX_RESPONSE_BYTES", str(32 * 1024 * 1024)))
CRISP_MAX_BUNDLE_BYTES = int(os.environ.get("CRISP_MAX_BUNDLE_BYTES", str(1024 * 1024 * 1024)))
# One object inside a page or bundle: deeper or larger is invalid (with the reason), the page goes on.
CRISP_MAX_JSON_DEPTH = int(os.environ.get("CRISP_MAX_JSON_DEPTH", "64"))
CRISP_MAX_OBJECT_BYTES = int(os.environ.get("CRISP_MAX_OBJECT_BYTES", str(8 * 1024 * 1024)))
# JSON values (approximately: commas and brackets) in one page: bounds the Python objects built.
CRISP_MAX_JSON_VALUES = int(os.environ.get("CRISP_MAX_JSON_VALUES", "4000000"))
# Time: each socket operation; each request in total (headers + body); a streamed bundle's waits.
CRISP_REQUEST_TIMEOUT_SECONDS = float(os.environ.get("CRISP_REQUEST_TIMEOUT_SECONDS", "30"))
CRISP_REQUEST_DEADLINE_SECONDS = float(os.environ.get("CRISP_REQUEST_DEADLINE_SECONDS", "120"))
CRISP_STREAM_DEADLINE_SECONDS = float(os.environ.get("CRISP_STREAM_DEADLINE_SECONDS", "3600"))
# Pagination: pages per run, and consecutive pages that bring nothing new (same `next` twice: at once).
CRISP_MAX_PAGES_PER_RUN = int(os.environ.get("CRISP_MAX_PAGES_PER_RUN", "100000"))
CRISP_MAX_IDLE_PAGES = int(os.environ.get("CRISP_MAX_IDLE_PAGES", "5"))
# Last line of defence: a pool process whose resident memory grew past this (KiB) is replaced
# after its task (Celery's worker_max_memory_per_child). It does not stop a task in flight: the
# limits above bound a run's memory by design; this reclaims what fragmentation keeps.
CELERY_WORKER_MAX_MEMORY_PER_CHILD = int(
    os.environ.get("CRISP_WORKER_MAX_MEMORY_PER_CHILD_KB", str(1024 * 1024))
)

# --- API ---------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "threat_feeds.api.authentication.CachedTokenAuthentication",  # token -> user cached in Redis
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "threat_feeds.api.exceptions.exception_handler",
    "DEFAULT_PARSER_CLASSES": [
        "threat_feeds.api.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_THROTTLE_RATES": {"cancel": CRISP_CANCEL_THROTTLE, "login": CRISP_LOGIN_THROTTLE},
}
SPECTACULAR_SETTINGS = {
    "TITLE": "CRISP threat-feed ingestion API",
    "DESCRIPTION": "Feeds, runs (with stop_now / cancel_job), and the deduplicated intelligence store.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- misc --------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
FRONTEND_DIST = BASE_DIR / "frontend" / "dist"
STATICFILES_DIRS = [p for p in [FRONTEND_DIST] if p.exists()]
# Serve the built dashboard straight from frontend/dist, with or without collectstatic.
WHITENOISE_USE_FINDERS = True
LOGIN_URL = "/admin/login/"
CSRF_FAILURE_VIEW = "threat_feeds.api.error_views.csrf_failure"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
