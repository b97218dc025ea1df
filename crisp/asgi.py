"""ASGI entry point: what `make run` (Procfile) and docker-compose serve, with uvicorn workers under
gunicorn, so that open live streams (server-sent events) hold no thread. task-status's common case
is answered in front of Django (`threat_feeds.api.fast_status`)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crisp.settings")
os.environ.setdefault("CRISP_SERVER", "asgi")  # settings: pooled database connections
django_application = get_asgi_application()

from threat_feeds.api.fast_status import FastTaskStatus  # needs the apps loaded

application = FastTaskStatus(django_application)
