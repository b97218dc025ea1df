"""Fewer indexes on the store's hot tables (each one costs on every ingested object): no
varchar_pattern_ops ("_like") copies of stix_id and type (nothing filters by prefix), and no
separate stix_object index on versions (one_version_per_key starts with it). The links' feed_id
index becomes (feed, stix_object, version), so "does this feed provide this version" is one probe
(SQLite chose the feed_id index and scanned the feed's links per version). Data is unchanged.

New indexes are built before the old ones go, so stix_id is never without a unique one."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("threat_feeds", "0008_version_date_added_index"),
    ]

    operations = [
        migrations.AddConstraint(
            model_name="stixobject",
            constraint=models.UniqueConstraint(fields=("stix_id",), name="unique_stix_id"),
        ),
        migrations.AddIndex(
            model_name="stixobject",
            index=models.Index(fields=["type"], name="stixobject_type"),
        ),
        migrations.AddIndex(
            model_name="objectprovenance",
            index=models.Index(fields=["feed", "stix_object", "version"], name="link_feed_object_version"),
        ),
        migrations.AlterField(
            model_name="objectprovenance",
            name="feed",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="threat_feeds.threatfeed",
            ),
        ),
        migrations.AlterField(
            model_name="stixobject",
            name="stix_id",
            field=models.CharField(max_length=255),
        ),
        migrations.AlterField(
            model_name="stixobject",
            name="type",
            field=models.CharField(max_length=100),
        ),
        migrations.AlterField(
            model_name="stixobjectversion",
            name="stix_object",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="versions",
                to="threat_feeds.stixobject",
            ),
        ),
    ]
