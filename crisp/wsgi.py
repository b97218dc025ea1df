"""WSGI entry point (gunicorn crisp.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crisp.settings")
application = get_wsgi_application()
