"""First start: create the first admin (printing how to log in) and the offline demo feed."""

from __future__ import annotations

import os
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from threat_feeds.choices import SourceType
from threat_feeds.demo.generator import DEFAULT_SEED, collection_id
from threat_feeds.models import ThreatFeed

DEMO_FEED_NAME = "DEMO: synthetic TAXII 2.1 feed (local, paced)"


class Command(BaseCommand):
    help = "Create the first admin user when none exists, and the demo TAXII feed."

    def add_arguments(self, parser):
        parser.add_argument("--no-demo", action="store_true", help="do not create the demo feed")

    def handle(self, *args, **options):
        users = get_user_model().objects
        admin = users.filter(is_superuser=True).order_by("pk").first()
        if not users.exists():
            username = os.environ.get("DJANGO_SUPERUSER_USERNAME") or "admin"
            password = os.environ.get("DJANGO_SUPERUSER_PASSWORD")
            generated = not password
            password = password or secrets.token_urlsafe(12)
            admin = users.create_superuser(username=username, email="", password=password)
            shown = password if generated else "(the DJANGO_SUPERUSER_PASSWORD you set)"
            self.stdout.write(self.style.SUCCESS(f"Created admin user '{username}' with password: {shown}"))
            if generated:
                self.stdout.write("This password is shown once; change it in the admin (/admin/).")
        else:
            self.stdout.write(
                "Log in with your existing user (an admin can reset passwords with manage.py changepassword)."
            )

        if not options["no_demo"]:
            demo_url = settings.CRISP_DEMO_TAXII_URL + "demo/"
            feed, created = ThreatFeed.objects.get_or_create(
                name=DEMO_FEED_NAME,
                defaults={
                    "source_type": SourceType.TAXII21,
                    "url": demo_url,
                    "collection_id": collection_id(DEFAULT_SEED),
                    "username": "demo",
                    "password": "demo",
                    "page_size": 100,
                    "owner": admin,
                    "settings": {"demo": True},
                },
            )
            if created:
                self.stdout.write(
                    "Created the demo feed (synthetic data served by the local demo TAXII server)."
                )
            elif feed.url != demo_url and (feed.settings or {}).get("demo"):
                # The demo server's port follows PORT / CRISP_DEMO_TAXII_PORT (or a free one when
                # that is taken), so it can differ from one `make run` to the next.
                feed.url = demo_url
                feed.save(update_fields=["url"])
                self.stdout.write(f"The demo feed now points at the demo TAXII server on {demo_url}")
        self.stdout.write(
            self.style.SUCCESS(
                f"Open http://127.0.0.1:{settings.PORT}/ and log in; the API docs are at /api/docs/."
            )
        )
