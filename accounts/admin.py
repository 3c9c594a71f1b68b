"""Operator admin for tenants and access. Token hashes are never shown."""

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from accounts.models import Account, ApiToken, AuditEvent, Group, Membership, Policy, Role, User
from accounts.policy import validate_policy


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ["user"]
    fields = ["user", "is_active", "created_at"]
    readonly_fields = ["created_at"]


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "max_concurrency", "api_rate_limit", "retention_days",
                    "is_active", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["slug", "name"]
    inlines = [MembershipInline]

    def has_delete_permission(self, request, obj=None):
        # Deleting an account here would cascade over millions of commands and log chunks in
        # one request and one transaction; deactivate it instead (tokens stop working at once).
        return False

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change:
            from accounts.policy import install_builtin_roles

            install_builtin_roles(obj)


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "name", "is_staff", "is_active", "date_joined"]
    search_fields = ["email", "name"]
    list_filter = ["is_staff", "is_superuser", "is_active"]
    fieldsets = [
        (None, {"fields": ["email", "password", "name"]}),
        ("Operator rights", {"fields": ["is_active", "is_staff", "is_superuser", "groups",
                                        "user_permissions"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "password1", "password2"]})]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "account", "is_active", "created_at"]
    list_filter = ["is_active", "account"]
    search_fields = ["user__email", "account__slug"]
    list_select_related = ["user", "account"]
    raw_id_fields = ["user", "account"]


@admin.register(Group)
class GroupAdmin(admin.ModelAdmin):
    list_display = ["name", "account", "builtin"]
    list_filter = ["builtin"]
    search_fields = ["name", "account__slug"]
    list_select_related = ["account"]
    filter_horizontal = ["members", "roles"]
    raw_id_fields = ["account"]


class PolicyForm(forms.ModelForm):
    class Meta:
        model = Policy
        fields = ["resource", "actions", "access", "conditions"]

    def clean(self):
        cleaned = super().clean()
        errors = validate_policy(cleaned.get("resource"), cleaned.get("actions"),
                                 cleaned.get("conditions") or {})
        if errors:
            raise forms.ValidationError(errors)
        return cleaned


class PolicyInline(admin.TabularInline):
    model = Policy
    form = PolicyForm
    extra = 1


@admin.register(Role)
class RoleAdmin(admin.ModelAdmin):
    list_display = ["name", "account", "builtin", "description"]
    list_filter = ["builtin"]
    search_fields = ["name", "account__slug"]
    list_select_related = ["account"]
    raw_id_fields = ["account"]
    inlines = [PolicyInline]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "membership", "created_at", "expires_at", "last_used_at",
                    "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["name", "prefix", "membership__user__email", "membership__account__slug"]
    list_select_related = ["membership__user", "membership__account"]
    fields = ["membership", "name", "prefix", "created_at", "expires_at", "last_used_at",
              "revoked_at"]
    # Revocation is final (use the action); clearing revoked_at would un-revoke a token.
    readonly_fields = ["membership", "prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def has_add_permission(self, request):
        # Secrets are shown once, to their owner: tokens are made through the API or
        # `createaccount --token`, not here.
        return False

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset):
        for token in queryset:
            token.revoke()


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "account", "actor", "action", "object_type", "object_id",
                    "ip_address"]
    list_filter = ["action"]
    search_fields = ["action", "object_id", "actor__email", "account__slug"]
    list_select_related = ["account", "actor"]
    date_hierarchy = "created_at"
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
