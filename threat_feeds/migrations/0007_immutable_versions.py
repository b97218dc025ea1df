"""The store as immutable versions: every distinct version of an object kept once, linked to the
runs that delivered it; the object row is a copy of its newest live version.

Existing data: each object's current content and each version an update replaced become versions;
each provenance row is linked to the version its run delivered, reconstructed from the old chain
(replaced versions in order, then the current one): `created` -> the first, `updated` -> the one
after the version it replaced, `unchanged` -> the one current when the run saw the object.
"""

from __future__ import annotations

from django.db import migrations, models
from django.utils import timezone

from threat_feeds.pipeline.versions import version_key

CHUNK = 2000


def _chunks(queryset, size=CHUNK):
    last = 0
    while True:
        rows = list(queryset.filter(pk__gt=last).order_by("pk")[:size])
        if not rows:
            return
        yield rows
        last = rows[-1].pk


def forward(apps, schema_editor):
    StixObject = apps.get_model("threat_feeds", "StixObject")
    Version = apps.get_model("threat_feeds", "StixObjectVersion")
    Provenance = apps.get_model("threat_feeds", "ObjectProvenance")
    now = timezone.now()
    with_history = set(Version.objects.values_list("stix_object_id", flat=True).distinct())
    for objects in _chunks(StixObject.objects.all()):
        for obj in objects:
            obj.version_key = version_key(obj.modified, obj.data)
        StixObject.objects.bulk_update(objects, ["version_key"])
        plain = [o for o in objects if o.pk not in with_history]
        created = Version.objects.bulk_create(
            [
                Version(
                    stix_object_id=o.pk,
                    version_key=o.version_key,
                    type=o.type,
                    spec_version=o.spec_version,
                    created=o.created,
                    modified=o.modified,
                    data=o.data,
                    first_seen_at=o.first_seen_at,
                    superseded_at=now,
                )
                for o in plain
            ]
        )
        ids = {v.stix_object_id: v.pk for v in created}
        if not all(ids.values()):  # backends without RETURNING on bulk insert
            ids = dict(
                Version.objects.filter(stix_object_id__in=[o.pk for o in plain]).values_list(
                    "stix_object_id", "pk"
                )
            )
        links = list(Provenance.objects.filter(stix_object_id__in=list(ids)))
        for link in links:
            link.version_id = ids[link.stix_object_id]
        Provenance.objects.bulk_update(links, ["version_id"], batch_size=CHUNK)
    for object_id in sorted(with_history):
        _migrate_history(StixObject.objects.get(pk=object_id), Version, Provenance, now)


def _migrate_history(obj, Version, Provenance, now):
    old = list(Version.objects.filter(stix_object_id=obj.pk).order_by("superseded_at", "id"))
    chain = [(v.pk, version_key(v.modified, v.data), v) for v in old] + [(None, obj.version_key, obj)]
    new_ids: dict[str, int] = {}
    for _, key, source in chain:
        if key not in new_ids:
            new_ids[key] = Version.objects.create(
                stix_object_id=obj.pk,
                version_key=key,
                type=obj.type,
                spec_version=getattr(source, "spec_version", obj.spec_version),
                created=obj.created,
                modified=source.modified,
                data=source.data,
                first_seen_at=obj.first_seen_at,
                superseded_at=now,
            ).pk
    position = {pk: i for i, (pk, _, _) in enumerate(chain) if pk is not None}
    for link in Provenance.objects.filter(stix_object_id=obj.pk):
        if link.action == "created":
            index = 0
        elif link.action == "updated" and link.previous_version_id in position:
            index = position[link.previous_version_id] + 1
        else:  # the version current when the run saw it
            index = next((i for i, v in enumerate(old) if v.superseded_at > link.seen_at), len(old))
        link.version_id = new_ids[chain[index][1]]
        link.save(update_fields=["version_id"])
    Version.objects.filter(pk__in=[v.pk for v in old]).delete()


class Migration(migrations.Migration):
    dependencies = [("threat_feeds", "0006_feed_sharing_and_owned_uploads")]

    operations = [
        migrations.AddField(
            model_name="stixobject", name="version_key", field=models.CharField(default="", max_length=80)
        ),
        migrations.AddField(
            model_name="stixobjectversion",
            name="version_key",
            field=models.CharField(default="", max_length=80),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="stixobjectversion",
            name="type",
            field=models.CharField(default="", max_length=100),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="stixobjectversion",
            name="spec_version",
            field=models.CharField(blank=True, default="", max_length=10),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="stixobjectversion",
            name="created",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="stixobjectversion",
            name="first_seen_at",
            field=models.DateTimeField(default=timezone.now),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="objectprovenance",
            name="version",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=models.CASCADE,
                related_name="links",
                to="threat_feeds.stixobjectversion",
            ),
        ),
        migrations.RunPython(forward, migrations.RunPython.noop),
        migrations.RemoveConstraint(model_name="objectprovenance", name="one_link_per_run_object"),
        migrations.RemoveField(model_name="objectprovenance", name="previous_version"),
        migrations.RemoveField(model_name="stixobjectversion", name="superseded_by_run"),
        migrations.RemoveField(model_name="stixobjectversion", name="superseded_at"),
        migrations.AlterField(
            model_name="objectprovenance",
            name="version",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=models.CASCADE,
                related_name="links",
                to="threat_feeds.stixobjectversion",
            ),
        ),
        migrations.AlterModelOptions(
            name="stixobjectversion", options={"ordering": ["stix_object", "-modified", "-id"]}
        ),
        migrations.AddConstraint(
            model_name="objectprovenance",
            constraint=models.UniqueConstraint(
                fields=("stix_object", "version", "run"), name="one_link_per_run_version"
            ),
        ),
        migrations.AddConstraint(
            model_name="stixobjectversion",
            constraint=models.UniqueConstraint(
                fields=("stix_object", "version_key"), name="one_version_per_key"
            ),
        ),
    ]
