from django.apps import AppConfig


class ThreatFeedsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "threat_feeds"
    verbose_name = "Threat feeds"

    def ready(self) -> None:
        # Signals that drop cached token look-ups when a token or user changes, in every process.
        from threat_feeds.api import authentication  # noqa: F401
