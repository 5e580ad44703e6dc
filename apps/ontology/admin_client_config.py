"""Client configuration in the Django admin: one row per client (created with
the client: no add, no delete). The form is checked by running the service
in a transaction rolled back afterwards, and saved through the same service
as the API, so an admin change publishes `client_config.changed` like any
other."""

from django import forms
from django.contrib import admin

from apps.ontology import models as m
from apps.ontology.services.client_config import client_config_update
from apps.ontology.types.client_config import FEATURES


def _feature_field(name: str) -> str:
    return f"feature_{name}"


class ClientConfigForm(forms.ModelForm):
    class Meta:
        model = m.ClientConfig
        fields = ["inactive_value_chains", "inactive_metrics", "default_locale", "time_zone", "currency"]
        help_texts = {
            "inactive_value_chains": (
                "Switched off: their KPIs are inactive unless another, active value chain holds them."
            ),
            "inactive_metrics": "Switched off KPIs: left out of dashboards and live recalculation; reads answer 409.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        client_id = self.instance.client_id
        self.fields["inactive_metrics"].queryset = m.MetricDefinition.objects.filter(client_id=client_id)
        self.fields["inactive_value_chains"].queryset = m.ValueChainPatternDefinition.objects.filter(
            client_id=client_id
        )
        for name, feature in FEATURES.items():
            self.fields[_feature_field(name)].initial = bool(self.instance.features.get(name, feature.default))

    def service_input(self) -> dict:
        data = self.cleaned_data
        inactive_chains = {c.code for c in data["inactive_value_chains"]}
        inactive_kpis = {k.code for k in data["inactive_metrics"]}
        client_id = self.instance.client_id
        return {
            "client_id": client_id,
            "active_value_chains": list(
                m.ValueChainPatternDefinition.objects.filter(client_id=client_id)
                .exclude(code__in=inactive_chains)
                .values_list("code", flat=True)
            ),
            "active_kpis": list(
                m.MetricDefinition.objects.filter(client_id=client_id)
                .exclude(code__in=inactive_kpis)
                .values_list("code", flat=True)
            ),
            "default_locale": data["default_locale"],
            "time_zone": data["time_zone"],
            "currency": data["currency"],
            "features": {name: bool(data.get(_feature_field(name))) for name in FEATURES},
        }

    def clean(self):
        from apps.ontology.admin import _dry_run  # the admin's one way of checking through a service

        cleaned = super().clean()
        if not self.errors:
            _dry_run(lambda: client_config_update(**self.service_input()))
        return cleaned


# One checkbox per switch, declared on the class so the admin knows the fields.
for _name, _feature in FEATURES.items():
    ClientConfigForm.base_fields[_feature_field(_name)] = ClientConfigForm.declared_fields[_feature_field(_name)] = (
        forms.BooleanField(required=False, label=_name.replace("_", " ").capitalize(), help_text=_feature.description)
    )


@admin.register(m.ClientConfig)
class ClientConfigAdmin(admin.ModelAdmin):
    form = ClientConfigForm
    list_display = ["client", "default_locale", "time_zone", "currency", "updated_at"]
    search_fields = ["client__code", "client__name"]
    filter_horizontal = ["inactive_value_chains", "inactive_metrics"]

    def get_fields(self, request, obj=None):
        return ["client", *ClientConfigForm.Meta.fields, *(_feature_field(name) for name in FEATURES)]

    def get_readonly_fields(self, request, obj=None):
        return ["client"]

    def has_add_permission(self, request) -> bool:
        return False  # every client has its row, created with it

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        client_config_update(**form.service_input())

    def save_related(self, request, form, formsets, change):
        pass  # the service set the KPIs and value chains
