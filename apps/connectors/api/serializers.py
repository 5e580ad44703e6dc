"""Shapes of `/api/v1/sources/connections/` (API.md, "Sources and
ingestion"). Inputs are passed to the services, which check them per kind;
credentials are write-only: answers say `credentials_set`."""

from rest_framework import serializers

from apps.connectors.types import ONTOLOGY_TYPES


class ConnectionInputSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=100, help_text="lower snake case, unique in the client; fixed")
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    kind = serializers.CharField(help_text="postgresql, mysql, mssql, oracle, rest, graphql or file")
    settings = serializers.JSONField(
        help_text="per kind (docs/sources.md): SQL host, port, database, schemas, sslmode; never a secret"
    )
    credentials = serializers.JSONField(
        write_only=True,
        required=False,
        help_text='an object of strings, e.g. {"username", "password"}; write-only, kept when omitted on update',
    )


class ConnectionUpdateSerializer(ConnectionInputSerializer):
    code = serializers.CharField(max_length=100, required=False, help_text="may be given; cannot change")


class ConnectionTestSettingsSerializer(ConnectionInputSerializer):
    code = serializers.CharField(
        max_length=100,
        required=False,
        allow_blank=True,
        help_text="optional; a saved connection of the same kind lends its credentials when none are given",
    )


class ConnectionOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()
    name = serializers.CharField()
    kind = serializers.CharField()
    settings = serializers.JSONField()
    credentials_set = serializers.BooleanField()
    owner = serializers.CharField()
    last_test_ok = serializers.BooleanField(allow_null=True)
    last_test_stage = serializers.CharField()
    last_test_message = serializers.CharField()
    last_tested_at = serializers.DateTimeField(allow_null=True)
    last_discovered_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class TestOutcomeSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    stage = serializers.ChoiceField(choices=["dns", "connect", "tls", "auth", "permission", "query"])
    message = serializers.CharField()


class SourceColumnSerializer(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.CharField(help_text="string, integer, decimal, boolean, date, timestamp or json")
    nullable = serializers.BooleanField()
    primary_key = serializers.BooleanField()
    source_type = serializers.CharField(help_text="the source's own spelling, e.g. NUMERIC(12, 2)")


class SourceObjectSerializer(serializers.Serializer):
    name = serializers.CharField(help_text='"table", or "schema.table" outside the default schema')
    kind = serializers.CharField(help_text="table, view, endpoint, file")
    columns = SourceColumnSerializer(many=True)


class DiscoverySerializer(serializers.Serializer):
    objects = SourceObjectSerializer(many=True)


class PreviewSerializer(serializers.Serializer):
    columns = serializers.ListField(child=serializers.CharField(), help_text="the column names, in source order")
    types = serializers.DictField(
        child=serializers.ChoiceField(choices=ONTOLOGY_TYPES),
        required=False,
        help_text="each column's ontology type, as discovery gives it (SQL: from the result's column types; "
        "REST, GraphQL, files: inferred as discovery infers them)",
    )
    rows = serializers.ListField(child=serializers.DictField(), help_text="values JSON-ready: dates ISO, decimals text")
