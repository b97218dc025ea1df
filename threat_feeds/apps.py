from django.apps import AppConfig


class ThreatFeedsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "threat_feeds"
    verbose_name = "Threat feeds"
