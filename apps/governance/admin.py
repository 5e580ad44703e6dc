"""Row policies in the Django admin. Saves go through the same services as
the API, so a predicate that does not compile is refused with the same
message."""

from django import forms
from django.contrib import admin

from apps.core.errors import AppError
from apps.governance.models import RowPolicy
from apps.governance.services import row_policy_check


class RowPolicyAdminForm(forms.ModelForm):
    class Meta:
        model = RowPolicy
        fields = ["client", "name", "subject_kind", "subject_value", "entity_code", "predicate", "is_enabled"]

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            row_policy_check(
                client_id=cleaned["client"].pk, entity=cleaned["entity_code"], predicate=cleaned["predicate"]
            )
        except AppError as exc:
            raise forms.ValidationError({"predicate": exc.message}) from exc
        return cleaned


@admin.register(RowPolicy)
class RowPolicyAdmin(admin.ModelAdmin):
    form = RowPolicyAdminForm
    list_display = ["name", "client", "subject_kind", "subject_value", "entity_code", "predicate", "is_enabled"]
    list_filter = ["client", "subject_kind", "is_enabled"]
    search_fields = ["name", "entity_code", "predicate", "subject_value"]
