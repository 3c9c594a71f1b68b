"""Admin for operators: webhook endpoints (the secret never shown: it is not a field of any
form here) and the delivery log, read-only, newest first."""

from django.contrib import admin

from notifications.models import Delivery, WebhookEndpoint


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ["name", "account", "url", "active", "created_at"]
    list_filter = ["active"]
    search_fields = ["name", "url", "account__slug"]
    list_select_related = ["account"]
    raw_id_fields = ["account", "created_by"]
    fields = ["account", "name", "url", "description", "active", "created_by", "created_at",
              "updated_at"]
    readonly_fields = ["created_by", "created_at", "updated_at"]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    """What was sent where and how it went: status, attempts, last answer, next attempt."""

    list_display = ["id", "command_id", "account", "channel", "target", "event", "state",
                    "attempts", "response_code", "short_error", "next_attempt_at",
                    "created_at"]
    list_filter = ["state", "channel", "event"]
    search_fields = ["=command__id", "email", "endpoint__name", "account__slug"]
    list_select_related = ["account", "endpoint"]
    show_full_result_count = False  # a COUNT(*) of a large log on every page costs more
    ordering = ["-id"]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in Delivery._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="last error")
    def short_error(self, obj):
        return obj.last_error[:80]
