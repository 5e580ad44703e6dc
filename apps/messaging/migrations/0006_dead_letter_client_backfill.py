"""Dead letters parked before events about a tenant's tables carried the
tenant (archival events and their confirmations had none) have no client, so
the tenant's dead-letter list did not show them. Give each its client where
the stored envelope says whose it is: its `tenant`, or the entity table its
payload names (`table_name` in analytics_data)."""

from django.db import migrations


def client_backfill(apps, schema_editor):
    DeadLetter = apps.get_model("messaging", "DeadLetter")
    Client = apps.get_model("core", "Client")
    EntityDefinition = apps.get_model("ontology", "EntityDefinition")
    clients = dict(Client.objects.values_list("code", "id"))
    for dead_letter in DeadLetter.objects.filter(client__isnull=True).iterator():
        envelope = dead_letter.envelope if isinstance(dead_letter.envelope, dict) else {}
        client_id = clients.get(envelope.get("tenant") or "")
        payload = envelope.get("payload") if isinstance(envelope.get("payload"), dict) else {}
        if client_id is None and isinstance(payload.get("table_name"), str):
            client_id = (
                EntityDefinition.objects.filter(table_name=payload["table_name"])
                .values_list("client_id", flat=True)
                .first()
            )
        if client_id is not None:
            DeadLetter.objects.filter(pk=dead_letter.pk).update(client_id=client_id)


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0005_outbox_event"),
        ("core", "0002_token_generation"),
        ("ontology", "0003_definition_changes"),
    ]

    operations = [migrations.RunPython(client_backfill, migrations.RunPython.noop)]
