from rest_framework import serializers

from apps.ontology.types.client_config import FEATURES


class ClientConfigInputSerializer(serializers.Serializer):
    """PATCH: any of the fields; the KPI and value chain lists are the whole
    active sets. Field contents (codes, time zone, currency, locale, switch
    names) are checked by the service, which names every bad one."""

    active_value_chains = serializers.ListField(child=serializers.CharField(max_length=63), required=False)
    active_kpis = serializers.ListField(child=serializers.CharField(max_length=63), required=False)
    default_locale = serializers.CharField(max_length=100, required=False, help_text="BCP 47: en-US, de, es-419")
    time_zone = serializers.CharField(max_length=100, required=False, help_text="IANA: Europe/Paris, UTC")
    currency = serializers.CharField(max_length=100, required=False, help_text="ISO 4217: EUR, USD")
    features = serializers.DictField(
        child=serializers.JSONField(),
        required=False,
        help_text="switch name -> true/false; only those named change. Switches: " + ", ".join(sorted(FEATURES)),
    )

    def validate(self, attrs):
        unknown = sorted(set(self.initial_data) - set(self.fields)) if isinstance(self.initial_data, dict) else []
        if unknown:
            raise serializers.ValidationError({name: "Unknown field." for name in unknown})
        return attrs


class InactiveKpiSerializer(serializers.Serializer):
    code = serializers.CharField()
    reason = serializers.ChoiceField(choices=["deactivated", "value_chain"])
    value_chains = serializers.ListField(
        child=serializers.CharField(), help_text="the inactive value chains holding it"
    )
    message = serializers.CharField()


class ClientConfigSerializer(serializers.Serializer):
    active_value_chains = serializers.ListField(child=serializers.CharField())
    inactive_value_chains = serializers.ListField(child=serializers.CharField())
    active_kpis = serializers.ListField(child=serializers.CharField(), help_text="KPIs not switched off themselves")
    inactive_kpis = InactiveKpiSerializer(many=True, help_text="every KPI not active for reads, and why")
    default_locale = serializers.CharField()
    time_zone = serializers.CharField()
    currency = serializers.CharField()
    features = serializers.DictField(child=serializers.BooleanField())
    updated_at = serializers.DateTimeField(allow_null=True)
