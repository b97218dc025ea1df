from django.apps import AppConfig


class ThreatFeedsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "threat_feeds"
    verbose_name = "Threat feeds"

    def ready(self) -> None:
        from django.db.models.signals import post_delete

        from threat_feeds.models import ThreatFeed
        from threat_feeds.services.uploads import remove_uploads_of_deleted_feed

        post_delete.connect(remove_uploads_of_deleted_feed, sender=ThreatFeed, dispatch_uid="feed-uploads")

        # Signals that drop cached token look-ups when a token or user changes, in every process.
        from threat_feeds.api import authentication  # noqa: F401
