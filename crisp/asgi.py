"""ASGI entry point: what `make run` (Procfile) and docker-compose serve, with uvicorn workers under
gunicorn, so that open live streams (server-sent events) hold no thread."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crisp.settings")
os.environ.setdefault("CRISP_SERVER", "asgi")  # settings: pooled database connections
application = get_asgi_application()
