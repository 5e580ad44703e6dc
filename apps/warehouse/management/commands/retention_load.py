"""Create or update retention policies from a YAML or JSON file:

    policies:
      - table: c12_claims          # or analytics_data.c12_claims; schema defaults to analytics_data
        keep_for: 90 days          # "<n> weeks|days|hours|minutes", ISO 8601 (P90D) or "DD HH:MM:SS"
        action: archive            # archive (default) or drop
        lakehouse_target: default
        batch_size: 10             # chunks per archival event
        active: true

Instead of `table`, an entry may name `entity: claims` with `client: acme`
(the entity's table in that client). Every table must exist as a hypertable.
Entries are matched on (schema, table); keys left out keep their current value
(or the default for a new policy). The whole file is validated first: one bad
entry, named in the error, and nothing is written.
"""

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils.dateparse import parse_duration

from apps.core.selectors import client_id_for_code
from apps.warehouse.models import RetentionPolicy
from apps.warehouse.selectors import hypertable_get, table_ref_parse
from apps.warehouse.services.hooks import entity_table

KEYS = {"table", "entity", "client", "schema", "keep_for", "action", "lakehouse_target", "batch_size", "active"}
_UNITS = {"w": "weeks", "week": "weeks", "d": "days", "day": "days", "h": "hours", "hour": "hours",
          "m": "minutes", "min": "minutes", "minute": "minutes"}  # fmt: skip
_SIMPLE = re.compile(r"^\s*(\d+)\s*([a-z]+?)s?\s*$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def duration_parse(value: Any) -> timedelta | None:
    if not isinstance(value, str):
        return None
    match = _SIMPLE.match(value.lower())
    if match and match.group(2) in _UNITS:
        return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    return parse_duration(value.strip())


def entry_validate(entry: Any, index: int) -> dict[str, Any]:
    where = f"policies[{index}]"
    if not isinstance(entry, dict):
        raise CommandError(f"{where}: an entry is a mapping with at least table and keep_for.")
    schema = entry.get("schema", settings.ANALYTICS_SCHEMA)
    if not isinstance(schema, str) or not _IDENTIFIER.match(schema):
        raise CommandError(f"{where}: schema must be a schema name.")
    if "entity" in entry and "table" not in entry:
        table = _entity_table(entry, where)
    else:
        given = entry.get("table")
        schema, table = table_ref_parse(given, schema=schema) if isinstance(given, str) else (schema, None)
        if table is None or not _IDENTIFIER.match(table) or not _IDENTIFIER.match(schema):
            raise CommandError(f"{where}: table is required and must be a table name.")
    where = f"{where} ({table})"
    unknown = set(entry) - KEYS
    if unknown:
        raise CommandError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(KEYS))}.")
    values: dict[str, Any] = {}
    if "keep_for" not in entry:
        raise CommandError(f"{where}: keep_for is required.")
    keep_for = duration_parse(entry["keep_for"])
    if keep_for is None or keep_for <= timedelta(0):
        raise CommandError(f"{where}: keep_for {entry['keep_for']!r} is not a positive duration (e.g. '90 days').")
    values["keep_for"] = keep_for
    if "action" in entry:
        if entry["action"] not in RetentionPolicy.Action.values:
            raise CommandError(f"{where}: action must be one of {', '.join(RetentionPolicy.Action.values)}.")
        values["action"] = entry["action"]
    if "lakehouse_target" in entry:
        if not isinstance(entry["lakehouse_target"], str) or not entry["lakehouse_target"]:
            raise CommandError(f"{where}: lakehouse_target must be a name.")
        values["lakehouse_target"] = entry["lakehouse_target"]
    if "batch_size" in entry:
        size = entry["batch_size"]
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise CommandError(f"{where}: batch_size must be a positive integer.")
        values["batch_size"] = size
    if "active" in entry:
        if not isinstance(entry["active"], bool):
            raise CommandError(f"{where}: active must be true or false.")
        values["active"] = entry["active"]
    return {"table_schema": schema, "table_name": table, "values": values}


def _entity_table(entry: dict, where: str) -> str:
    entity, client = entry.get("entity"), entry.get("client")
    if not isinstance(client, str) or not isinstance(entity, str):
        raise CommandError(f"{where}: entity needs client (the client's code) to find its table.")
    client_id = client_id_for_code(code=client)
    table = entity_table(client_id=client_id, entity=entity) if client_id is not None else None
    if table is None:
        raise CommandError(f"{where}: no entity {entity!r} in client {client!r}.")
    return table


class Command(BaseCommand):
    help = "Create or update retention policies from a YAML or JSON file."

    def add_arguments(self, parser):
        parser.add_argument("path", help="a .yaml, .yml or .json file")

    def handle(self, *args, path: str, **options):
        file = Path(path)
        try:
            text = file.read_text()
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc}") from exc
        try:
            data = json.loads(text) if file.suffix == ".json" else yaml.safe_load(text)
        except (ValueError, yaml.YAMLError) as exc:
            raise CommandError(f"{path} is not valid {'JSON' if file.suffix == '.json' else 'YAML'}: {exc}") from exc
        entries = data.get("policies") if isinstance(data, dict) else data
        if not isinstance(entries, list):
            raise CommandError(f"{path}: expected a list of policies (or a mapping with a 'policies' list).")
        parsed = [entry_validate(entry, index) for index, entry in enumerate(entries)]
        seen: set[tuple[str, str]] = set()
        for index, item in enumerate(parsed):
            key = (item["table_schema"], item["table_name"])
            if key in seen:
                raise CommandError(f"policies[{index}] ({item['table_name']}): the table appears twice.")
            seen.add(key)
        for index, item in enumerate(parsed):
            if hypertable_get(table=item["table_name"], schema=item["table_schema"]) is None:
                raise CommandError(
                    f"policies[{index}] ({item['table_name']}): no hypertable "
                    f"{item['table_schema']}.{item['table_name']}; a policy needs an existing time-series table."
                )
        created = updated = 0
        with transaction.atomic():
            for item in parsed:
                policy = RetentionPolicy.objects.filter(
                    table_schema=item["table_schema"], table_name=item["table_name"]
                ).first()
                if policy is None:
                    policy = RetentionPolicy(table_schema=item["table_schema"], table_name=item["table_name"])
                    created += 1
                else:
                    updated += 1
                for name, value in item["values"].items():
                    setattr(policy, name, value)
                policy.save()
        self.stdout.write(f"Retention policies: {created} created, {updated} updated.")
