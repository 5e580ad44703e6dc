"""The seeded roles (admin, analyst, viewer, with the permissions of
apps.core.access.SEEDED_ROLES as of this migration) for every existing
client; new clients get them when created (apps/identity/receivers.py)."""

from django.db import migrations

SEEDED = {
    "admin": (
        "Administrator",
        "Everything, including access and operations.",
        ["administer", "edit_ontology", "load_data", "manage_access", "manage_sources", "view_metrics"],
    ),
    "analyst": (
        "Analyst",
        "Reads metrics, edits the ontology, loads data and manages sources.",
        ["edit_ontology", "load_data", "manage_sources", "view_metrics"],
    ),
    "viewer": ("Viewer", "Reads metrics and definitions.", ["view_metrics"]),
}


def seed(apps, schema_editor):
    Client = apps.get_model("core", "Client")
    Role = apps.get_model("identity", "Role")
    roles = [
        Role(client_id=client_id, code=code, name=name, description=description, permissions=perms, is_seeded=True)
        for client_id in Client.objects.values_list("pk", flat=True)
        for code, (name, description, perms) in SEEDED.items()
    ]
    Role.objects.bulk_create(roles, ignore_conflicts=True, batch_size=500)


def unseed(apps, schema_editor):
    apps.get_model("identity", "Role").objects.filter(is_seeded=True).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("identity", "0001_initial"),
        ("core", "0005_membership_role_code"),
    ]

    operations = [migrations.RunPython(seed, unseed)]
