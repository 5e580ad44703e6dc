"""Ontology editing in the Django admin. Every save and every revert goes
through the same services as the API, so the admin gets the same validation,
the same table changes and the same version history:

- a form (and, for entities, the attribute inline) is validated by running the
  service in a transaction that is then rolled back (DDL included: Postgres
  DDL is transactional), so problems show as form errors before anything is
  written;
- saving calls the service for real;
- "Revert" in an object's history asks for confirmation, then calls
  `definition_revert`, which alters tables the same way an API revert does.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import construct_change_message
from django.core.exceptions import ValidationError
from django.db import transaction
from django.forms.models import BaseInlineFormSet, construct_instance
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from reversion.admin import VersionAdmin
from reversion.models import Version

from apps.core.errors import AppError
from apps.ontology import models as m
from apps.ontology.services import definitions, entities, metrics, relationships
from apps.ontology.services.versions import definition_revert


class _DryRun(Exception):
    """Raised to roll back a validation run of a service."""


def _dry_run(call) -> None:
    try:
        with transaction.atomic():
            call()
            raise _DryRun
    except _DryRun:
        pass
    except AppError as exc:
        raise ValidationError(exc.message) from exc


class ServiceAdmin(VersionAdmin):
    """Saves through the services. Subclasses provide `service_input(obj, form,
    formsets)` (the service's input from the form), `service_save(obj,
    client_id, data, user)` (create when obj is None, else update) and
    `service_delete(obj, user)`."""

    def save_model(self, request, obj, form, change):
        pass  # saved by save_related through the service, once inlines are known

    def construct_change_message(self, request, form, formsets, add=False):
        # Inlines are saved by the service, not the formsets; the version
        # history records the attribute changes.
        return construct_change_message(form, [], add)

    def save_related(self, request, form, formsets, change):
        obj = form.instance
        data = self.service_input(obj, form, formsets)
        saved = self.service_save(obj if change else None, obj.client_id, data, request.user)
        obj.pk = saved.pk
        form.instance = saved

    def delete_model(self, request, obj):
        try:
            self.service_delete(obj, request.user)
        except AppError as exc:
            transaction.set_rollback(True)
            self.message_user(request, exc.message, messages.ERROR)

    def revision_view(self, request, object_id, version_id, extra_context=None):
        obj = get_object_or_404(self.model, pk=object_id)
        version = get_object_or_404(Version.objects.get_for_object(obj), pk=version_id)
        if request.method == "POST":
            try:
                definition_revert(obj=obj, version_id=version.pk, user=request.user)
            except AppError as exc:
                self.message_user(request, f"Not reverted: {exc.message}", messages.ERROR)
            else:
                self.message_user(
                    request, f"Reverted {obj.code} to the version of {version.revision.date_created:%Y-%m-%d %H:%M}."
                )
            return redirect(reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk]))
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "object": obj, "version": version}
        return TemplateResponse(request, "admin/ontology/revert_confirm.html", context)

    def recover_view(self, request, version_id, extra_context=None):
        self.message_user(
            request, "Deleted definitions are recreated through the API or the add form.", messages.WARNING
        )
        return redirect(reverse(f"admin:{self.model._meta.app_label}_{self.model._meta.model_name}_changelist"))


class ServiceForm(forms.ModelForm):
    """Validates by a dry run of the admin's service (set by get_form)."""

    admin_instance: ServiceAdmin = None
    change = False

    def clean(self):
        cleaned = super().clean()
        if self.errors or self.admin_instance.model is m.EntityDefinition:
            return cleaned  # entities are validated with their attributes, in the inline formset
        obj = construct_instance(self, self.instance)
        data = self.admin_instance.service_input(obj, self, [])
        _dry_run(lambda: self.admin_instance.service_save(obj if self.change else None, obj.client_id, data, None))
        return cleaned


def _form_for(admin_obj, base_form, change):
    return type("BoundServiceForm", (base_form,), {"admin_instance": admin_obj, "change": change})


class _FormMixin:
    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = _form_for(self, ServiceForm, obj is not None)
        return super().get_form(request, obj, change, **kwargs)


# --- entities -------------------------------------------------------------------


def _entity_input(entity: m.EntityDefinition, attribute_forms) -> entities.EntityInput:
    attributes = [
        entities.AttributeInput(
            code=f.cleaned_data["code"],
            data_type=f.cleaned_data["data_type"],
            nullable=f.cleaned_data.get("nullable", True),
            enum_values=tuple(f.cleaned_data.get("enum_values") or ()),
            name=f.cleaned_data.get("name", ""),
            description=f.cleaned_data.get("description", ""),
        )
        for f in sorted(attribute_forms, key=lambda f: f.cleaned_data.get("position") or 0)
        if f.cleaned_data and not f.cleaned_data.get("DELETE")
    ]
    return entities.EntityInput(
        code=entity.code,
        name=entity.name,
        description=entity.description,
        kind=entity.kind,
        time_attribute=entity.time_attribute or "",
        attributes=attributes,
    )


class AttributeFormSet(BaseInlineFormSet):
    def clean(self):
        super().clean()
        entity = self.instance
        if any(self.errors) or not entity.client_id or not entity.code:
            return
        data = _entity_input(entity, self.forms)
        existing = m.EntityDefinition.objects.filter(pk=entity.pk).first() if entity.pk else None
        if existing:
            _dry_run(lambda: entities.entity_update(entity=existing, data=data))
        else:
            _dry_run(lambda: entities.entity_create(client_id=entity.client_id, data=data))


class AttributeInline(admin.TabularInline):
    model = m.AttributeDefinition
    formset = AttributeFormSet
    extra = 0
    fields = ["position", "code", "name", "data_type", "nullable", "enum_values", "description"]


@admin.register(m.EntityDefinition)
class EntityAdmin(ServiceAdmin):
    list_display = ["code", "name", "client", "kind", "time_attribute", "table_name", "updated_at"]
    list_filter = ["client", "kind"]
    search_fields = ["code", "name", "attributes__code"]
    inlines = [AttributeInline]
    readonly_fields = ["table_name"]

    def get_readonly_fields(self, request, obj=None):
        # Fixed once the table exists (the service refuses changing them).
        return ["table_name", "client", "code", "kind", "time_attribute"] if obj else ["table_name"]

    def service_input(self, obj, form, formsets):
        return _entity_input(obj, formsets[0].forms)

    def service_save(self, obj, client_id, data, user):
        if obj is None:
            return entities.entity_create(client_id=client_id, data=data, user=user)
        return entities.entity_update(entity=obj, data=data, user=user)

    def service_delete(self, obj, user):
        entities.entity_delete(entity=obj, user=user)


# --- relationships and metrics ----------------------------------------------------


@admin.register(m.RelationshipDefinition)
class RelationshipAdmin(_FormMixin, ServiceAdmin):
    list_display = ["code", "client", "source_entity", "kind", "target_entity", "source_attribute", "target_attribute"]
    list_filter = ["client", "kind"]
    search_fields = ["code", "name", "source_entity__code", "target_entity__code"]
    autocomplete_fields = ["source_entity", "target_entity"]

    def service_input(self, obj, form, formsets):
        return relationships.RelationshipInput(
            code=obj.code,
            name=obj.name,
            description=obj.description,
            source_entity=obj.source_entity.code,
            target_entity=obj.target_entity.code,
            kind=obj.kind,
            source_attribute=obj.source_attribute,
            target_attribute=obj.target_attribute,
        )

    def service_save(self, obj, client_id, data, user):
        if obj is None:
            return relationships.relationship_create(client_id=client_id, data=data, user=user)
        return relationships.relationship_update(rel=obj, data=data, user=user)

    def service_delete(self, obj, user):
        relationships.relationship_delete(rel=obj, user=user)


@admin.register(m.MetricDefinition)
class MetricAdmin(_FormMixin, ServiceAdmin):
    list_display = ["code", "name", "client", "entity", "unit", "domain", "mode"]
    list_filter = ["client", "domain", "mode"]
    search_fields = ["code", "name", "formula"]
    exclude = ["depends_on_metrics", "depends_on_attributes"]
    autocomplete_fields = ["entity"]

    def service_input(self, obj, form, formsets):
        return metrics.MetricInput(
            code=obj.code,
            name=obj.name,
            description=obj.description,
            formula=obj.formula,
            entity=obj.entity.code if obj.entity_id else None,
            unit=obj.unit,
            domain=obj.domain,
            mode=obj.mode,
        )

    def service_save(self, obj, client_id, data, user):
        if obj is None:
            return metrics.metric_create(client_id=client_id, data=data, user=user)
        return metrics.metric_update(metric=obj, data=data, user=user)

    def service_delete(self, obj, user):
        metrics.metric_delete(metric=obj, user=user)


# --- descriptive definitions -------------------------------------------------------


class DescriptiveAdmin(_FormMixin, ServiceAdmin):
    list_display = ["code", "name", "client", "updated_at"]
    list_filter = ["client"]
    search_fields = ["code", "name", "description"]

    def service_input(self, obj, form, formsets):
        cleaned = form.cleaned_data
        fields, links = {}, {}
        for name, value in cleaned.items():
            if name in ("client", "code", "name", "description"):
                continue
            if name in definitions.LINKS:
                links[name] = [o.code for o in value] if definitions.LINKS[name][1] else (value.code if value else None)
            else:
                fields[name] = value
        return definitions.DefinitionInput(
            code=obj.code, name=obj.name, description=obj.description, fields=fields, links=links
        )

    def service_save(self, obj, client_id, data, user):
        if obj is None:
            return definitions.definition_create(model=self.model, client_id=client_id, data=data, user=user)
        return definitions.definition_update(obj=obj, data=data, user=user)

    def service_delete(self, obj, user):
        definitions.definition_delete(obj=obj, user=user)


for _model in (
    m.ValueChainPatternDefinition,
    m.ActorDefinition,
    m.AnalyticsStrategyDefinition,
    m.AnalyticsUseCaseDefinition,
    m.DataSourceDefinition,
):
    admin.site.register(_model, DescriptiveAdmin)


@admin.register(m.DataLoad)
class DataLoadAdmin(admin.ModelAdmin):
    list_display = ["created_at", "client", "entity", "inserted", "rejected", "time_min", "time_max", "source"]
    list_filter = ["client", "source"]
    search_fields = ["entity__code", "correlation_id"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(m.DriftReport)
class DriftReportAdmin(admin.ModelAdmin):
    list_display = ["created_at", "client", "status", "triggered_by"]
    list_filter = ["client", "status", "triggered_by"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


from apps.ontology import admin_client_config  # noqa: E402, F401 - registers ClientConfig's admin
