from django.db import migrations, models


def existing_series_keep_their_interval(apps, schema_editor):
    # Hypertables made before this field were all created with 7-day chunks.
    EntityDefinition = apps.get_model("ontology", "EntityDefinition")
    EntityDefinition.objects.filter(kind="time_series", chunk_interval="").update(chunk_interval="7 days")


class Migration(migrations.Migration):
    dependencies = [
        ("ontology", "0003_definition_changes"),
    ]

    operations = [
        migrations.AddField(
            model_name="entitydefinition",
            name="chunk_interval",
            field=models.CharField(blank=True, default="", max_length=40),
        ),
        migrations.RunPython(existing_series_keep_their_interval, migrations.RunPython.noop),
    ]
