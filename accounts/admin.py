"""Operator admin for tenants and access. Token hashes are never shown.

Every change an operator makes to memberships, groups, roles and tokens joins the account's
audit trail under the same action names as the API's (``roles.update``, ``tokens.revoke``, …)
with ``via: "admin"``. Built-in roles are read-only here as in the API; built-in groups keep
their name and roles (their members may change).
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from accounts import audit, invitations
from accounts.models import Account, ApiToken, AuditEvent, Group, Membership, Policy, Role, User
from accounts.policy import validate_policy


class AuditedAdmin(admin.ModelAdmin):
    """Records each create, change and delete as an audit event of the object's account."""

    audit_resource = None  # the API's resource name: "roles", "groups", "members", "tokens"

    def audit_account(self, obj):
        return obj.account

    def record(self, request, verb, obj, **detail):
        audit.record(f"{self.audit_resource}.{verb}", actor=request.user,
                     account=self.audit_account(obj), obj=obj, request=request, via="admin",
                     **detail)

    def save_related(self, request, form, formsets, change):
        # After the object and its many-to-many fields and inlines are saved, so the event
        # names every field and inline that changed.
        super().save_related(request, form, formsets, change)
        changed = list(form.changed_data) + [
            formset.prefix for formset in formsets if formset.has_changed()]
        self.record(request, "update" if change else "create", form.instance, fields=changed)

    def delete_model(self, request, obj):
        self.record(request, "delete", obj)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.record(request, "delete", obj)
        super().delete_queryset(request, queryset)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ["user"]
    fields = ["user", "is_active", "created_at"]
    readonly_fields = ["created_at"]


@admin.register(Account)
class AccountAdmin(AuditedAdmin):
    audit_resource = "account"
    list_display = ["slug", "name", "max_concurrency", "api_rate_limit", "retention_days",
                    "is_active", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["slug", "name"]
    inlines = [MembershipInline]

    def has_delete_permission(self, request, obj=None):
        # Deleting an account here would cascade over millions of commands and log chunks in
        # one request and one transaction; deactivate it instead (tokens stop working at once).
        return False

    def audit_account(self, obj):
        return obj

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
class MembershipAdmin(AuditedAdmin):
    audit_resource = "members"

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        link = None if change else invitations.welcome(obj, request.build_absolute_uri("/"))
        if link:
            # Shown once, here: the operator hands it on where no mail is configured.
            self.message_user(request, f"{obj.user.email} sets a password with this one-time "
                              f"link: {link}", messages.WARNING)
    list_display = ["user", "account", "is_active", "created_at"]
    list_filter = ["is_active", "account"]
    search_fields = ["user__email", "account__slug"]
    list_select_related = ["user", "account"]
    raw_id_fields = ["user", "account"]


@admin.register(Group)
class GroupAdmin(AuditedAdmin):
    audit_resource = "groups"
    list_display = ["name", "account", "builtin"]
    list_filter = ["builtin"]
    search_fields = ["name", "account__slug"]
    list_select_related = ["account"]
    filter_horizontal = ["members", "roles"]
    raw_id_fields = ["account"]

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.builtin:
            return ["account", "name", "roles"]
        return []

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and not (obj and obj.builtin)


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

    # ``obj`` is the role: the policies of a built-in role are shown, never changed.
    def has_add_permission(self, request, obj=None):
        return super().has_add_permission(request, obj) and not (obj and obj.builtin)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and not (obj and obj.builtin)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and not (obj and obj.builtin)


@admin.register(Role)
class RoleAdmin(AuditedAdmin):
    """Roles and their policies; the built-in ``system-admin`` and ``system-user`` are read-only
    (as in the API: make a custom role instead)."""

    audit_resource = "roles"
    list_display = ["name", "account", "builtin", "description"]
    list_filter = ["builtin"]
    search_fields = ["name", "account__slug"]
    list_select_related = ["account"]
    raw_id_fields = ["account"]
    inlines = [PolicyInline]

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and not (obj and obj.builtin)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and not (obj and obj.builtin)


@admin.register(ApiToken)
class ApiTokenAdmin(AuditedAdmin):
    audit_resource = "tokens"
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

    def audit_account(self, obj):
        return obj.membership.account

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset):
        for token in queryset.filter(revoked_at__isnull=True).select_related(
                "membership__account"):
            token.revoke()
            self.record(request, "revoke", token)


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
