"""Webhook subscriptions and their deliveries in the Django admin (imported by
apps/messaging/admin.py). Saves go through the same services as the API: the
URL rule and the pattern are checked, the secret is generated when left empty
and shown once after creation, and it is stored encrypted, never displayed."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count
from django.forms.models import construct_instance
from django.urls import reverse
from django.utils.html import format_html

from apps.core.errors import AppError
from apps.messaging import webhooks
from apps.messaging.models import Subscription, WebhookDelivery


class _DryRun(Exception):
    """Raised to roll back a validation run of a service."""


class SubscriptionAdminForm(forms.ModelForm):
    # A plain text field: the service's URL rule gives the message, not URLField's.
    webhook_url = forms.CharField(max_length=1000, widget=forms.URLInput(attrs={"size": 80}))
    secret = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Leave empty to generate one (new subscription) or to keep the current one.",
    )

    class Meta:
        model = Subscription
        fields = ["client", "topic_pattern", "webhook_url", "active", "description"]

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        obj = construct_instance(self, self.instance)  # what _post_clean would do, needed now
        try:
            with transaction.atomic():
                _save(obj, cleaned.get("secret") or None, user=None)
                raise _DryRun
        except _DryRun:
            pass
        except AppError as exc:
            field = next((f for f in exc.details if f in self.fields), None)
            raise ValidationError({field: exc.message} if field else exc.message) from exc
        return cleaned


def _save(obj: Subscription, secret: str | None, *, user) -> webhooks.SubscriptionCreated | Subscription:
    if obj._state.adding:
        return webhooks.subscription_create(
            client_id=obj.client_id,
            topic_pattern=obj.topic_pattern,
            webhook_url=obj.webhook_url,
            secret=secret,
            active=obj.active,
            description=obj.description,
            user=user,
        )
    return webhooks.subscription_update(
        subscription=obj,
        topic_pattern=obj.topic_pattern,
        webhook_url=obj.webhook_url,
        secret=secret,
        active=obj.active,
        description=obj.description,
    )


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    form = SubscriptionAdminForm
    list_display = ["topic_pattern", "webhook_url", "client", "active", "created_by", "created_at"]
    list_filter = ["active", "client"]
    search_fields = ["topic_pattern", "webhook_url", "description", "client__code"]
    readonly_fields = ["id", "deliveries", "created_by", "created_at", "updated_at"]
    list_select_related = ["client", "created_by"]
    actions = ["activate", "deactivate"]

    @admin.display(description="Deliveries")
    def deliveries(self, obj):
        if obj.pk is None:
            return "-"
        counts = dict(
            WebhookDelivery.objects.filter(subscription=obj).values_list("status").annotate(n=Count("pk")).order_by()
        )
        url = reverse("admin:messaging_webhookdelivery_changelist") + f"?subscription={obj.pk}"
        summary = ", ".join(f"{counts.get(s, 0)} {s}" for s in WebhookDelivery.Status.values)
        return format_html('<a href="{}">{}</a>', url, summary)

    def save_model(self, request, obj, form, change):
        saved = _save(obj, form.cleaned_data.get("secret") or None, user=request.user)
        if isinstance(saved, webhooks.SubscriptionCreated):
            obj.pk = saved.subscription.pk
            obj.refresh_from_db()
            obj._state.adding = False
            self.message_user(
                request,
                f"Signing secret (shown only now, keep it to verify deliveries): {saved.secret}",
                messages.WARNING,
            )

    def delete_model(self, request, obj):
        webhooks.subscription_delete(subscription=obj)

    def delete_queryset(self, request, queryset):
        for subscription in queryset:
            webhooks.subscription_delete(subscription=subscription)

    @admin.action(description="Activate the selected subscriptions")
    def activate(self, request, queryset):
        for subscription in queryset:
            webhooks.subscription_update(subscription=subscription, active=True)

    @admin.action(description="Deactivate the selected subscriptions")
    def deactivate(self, request, queryset):
        for subscription in queryset:
            webhooks.subscription_update(subscription=subscription, active=False)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    """A log: read-only. Failed deliveries are replayed from the dead letters."""

    list_display = ["event_id", "topic", "subscription", "status", "attempts", "last_status_code", "created_at"]
    list_filter = ["status"]
    search_fields = ["event_id", "topic", "subscription__webhook_url"]
    list_select_related = ["subscription"]
    readonly_fields = [
        "subscription",
        "event_id",
        "topic",
        "status",
        "attempts",
        "last_status_code",
        "last_error",
        "delivered_at",
        "envelope",
        "created_at",
        "updated_at",
    ]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
