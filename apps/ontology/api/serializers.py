"""Input and output shapes of the ontology API (API.md, "Ontology")."""

from django.conf import settings
from rest_framework import serializers


class AttributeSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=200)
    name = serializers.CharField(required=False, allow_blank=True, default="")
    description = serializers.CharField(required=False, allow_blank=True, default="")
    data_type = serializers.CharField(max_length=50)
    nullable = serializers.BooleanField(required=False, default=True)
    enum_values = serializers.ListField(child=serializers.CharField(), required=False, default=list)


class EntityInputSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=200)
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    kind = serializers.CharField(max_length=50)
    time_attribute = serializers.CharField(required=False, allow_blank=True, allow_null=True, default="")
    # Validated by the service (PostgreSQL reads it; 1 hour .. 1 year): 400 invalid_chunk_interval.
    chunk_interval = serializers.CharField(required=False, allow_blank=True, allow_null=True, default=None)
    attributes = AttributeSerializer(many=True)


class EntityOutputSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    kind = serializers.CharField()
    time_attribute = serializers.SerializerMethodField()
    table = serializers.SerializerMethodField()
    chunk_interval = serializers.SerializerMethodField()
    attributes = AttributeSerializer(many=True, source="attributes.all")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_time_attribute(self, obj) -> str | None:
        return obj.time_attribute or None

    def get_chunk_interval(self, obj) -> str | None:
        return obj.chunk_interval or None

    def get_table(self, obj) -> str:
        return f"{settings.ANALYTICS_SCHEMA}.{obj.table_name}"


class RelationshipSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=200)
    name = serializers.CharField(required=False, allow_blank=True, default="")
    description = serializers.CharField(required=False, allow_blank=True, default="")
    source_entity = serializers.CharField(source="source_entity.code")
    target_entity = serializers.CharField(source="target_entity.code")
    kind = serializers.CharField(max_length=50)
    source_attribute = serializers.CharField(max_length=200)
    target_attribute = serializers.CharField(max_length=200)


class RelationshipInputSerializer(RelationshipSerializer):
    source_entity = serializers.CharField(max_length=200)
    target_entity = serializers.CharField(max_length=200)


class MetricInputSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=200)
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    formula = serializers.CharField()
    entity = serializers.CharField(required=False, allow_null=True, allow_blank=True, default=None)
    unit = serializers.CharField(required=False, allow_blank=True, default="")
    domain = serializers.CharField(required=False, allow_blank=True, default="")
    mode = serializers.CharField(required=False, default="exact")


class MetricOutputSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    formula = serializers.CharField()
    entity = serializers.CharField(source="entity.code", allow_null=True, default=None)
    unit = serializers.CharField()
    domain = serializers.CharField()
    mode = serializers.CharField()
    depends_on = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_depends_on(self, obj) -> dict:
        return {
            "metrics": sorted(d.code for d in obj.depends_on_metrics.all()),
            "attributes": obj.depends_on_attributes,
        }


def _codes_field():
    # Written as codes; read back by DefinitionSerializer.to_representation.
    return serializers.ListField(child=serializers.CharField(), required=False, default=list, write_only=True)


def _code_field():
    return serializers.CharField(required=False, allow_null=True, default=None, write_only=True)


class DefinitionSerializer(serializers.Serializer):
    """Shared fields of the descriptive definitions."""

    code = serializers.CharField(max_length=200)
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)

    # name -> how the output reads it: "codes" (M2M), "code" (FK) or plain.
    links: dict[str, str] = {}

    def to_representation(self, obj):
        data = super().to_representation(obj)
        for name, how in self.links.items():
            related = getattr(obj, name)
            data[name] = (
                sorted(o.code for o in related.all()) if how == "codes" else (related.code if related else None)
            )
        return data


class ValueChainSerializer(DefinitionSerializer):
    industry = serializers.CharField(required=False, allow_blank=True, default="")
    stages = serializers.ListField(child=serializers.CharField(), required=False, default=list)
    entities = _codes_field()
    metrics = _codes_field()
    links = {"entities": "codes", "metrics": "codes"}


class ActorSerializer(DefinitionSerializer):
    kind = serializers.CharField(required=False, default="role")
    responsibilities = serializers.ListField(child=serializers.CharField(), required=False, default=list)
    value_chain = _code_field()
    links = {"value_chain": "code"}


class StrategySerializer(DefinitionSerializer):
    objectives = serializers.ListField(child=serializers.CharField(), required=False, default=list)
    value_chain = _code_field()
    links = {"value_chain": "code"}


class UseCaseSerializer(DefinitionSerializer):
    strategy = _code_field()
    entities = _codes_field()
    metrics = _codes_field()
    links = {"strategy": "code", "entities": "codes", "metrics": "codes"}


class DataSourceSerializer(DefinitionSerializer):
    kind = serializers.CharField()
    settings = serializers.DictField(required=False, default=dict)
    schedule = serializers.CharField(required=False, allow_blank=True, default="")
    entities = _codes_field()
    links = {"entities": "codes"}


class VersionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    at = serializers.DateTimeField()
    user = serializers.CharField(allow_null=True)
    comment = serializers.CharField()
    changes = serializers.DictField()
