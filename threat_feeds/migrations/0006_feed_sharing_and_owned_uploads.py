"""Feeds can be shared with users; an uploaded bundle is a server-chosen file, not a user setting.

`settings.upload_path` (set by the old upload endpoint, but also writable through the API) is
dropped; a path the old endpoint wrote (VAR_DIR/uploads/feed-<id>/bundle.json) is kept as the
feed's upload, any other path is forgotten.
"""

from pathlib import Path

from django.conf import settings
from django.db import migrations, models


def forget_upload_paths(apps, schema_editor):
    ThreatFeed = apps.get_model("threat_feeds", "ThreatFeed")
    var_dir = Path(settings.VAR_DIR)
    for feed in ThreatFeed.objects.filter(settings__has_key="upload_path"):
        options = dict(feed.settings)
        path = options.pop("upload_path")
        legacy = var_dir / "uploads" / f"feed-{feed.pk}" / "bundle.json"
        if str(path) == str(legacy):
            feed.upload_file = str(legacy.relative_to(var_dir))
        feed.settings = options
        feed.save(update_fields=["settings", "upload_file"])


class Migration(migrations.Migration):
    dependencies = [
        ("threat_feeds", "0005_run_undo"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="threatfeed",
            name="shared_with",
            field=models.ManyToManyField(
                blank=True, related_name="shared_feeds", to=settings.AUTH_USER_MODEL
            ),
        ),
        migrations.AddField(
            model_name="threatfeed",
            name="upload_file",
            field=models.CharField(blank=True, editable=False, max_length=200),
        ),
        migrations.RunPython(forget_upload_paths, migrations.RunPython.noop),
    ]
