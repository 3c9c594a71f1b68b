"""Serializers of the accounts API. Validation only; changes go through model/policy helpers."""

from contextlib import contextmanager

from django.db import transaction
from django.utils import timezone
from rest_framework import serializers

from accounts import invitations, policy, roles
from accounts.authentication import membership_of
from accounts.models import ApiToken, Group, Membership, Policy, Role
from jobportal.fields import JSONField


@contextmanager
def refusals(field_level=True):
    """A refused change of roles or groups as a validation error: of the field being
    validated, or (``field_level=False``) under the field it names."""
    try:
        yield
    except roles.ChangeRefused as exc:
        if field_level or exc.field is None:
            raise serializers.ValidationError(exc.message) from exc
        raise serializers.ValidationError({exc.field: exc.message}) from exc


class AccountScopedSlugField(serializers.SlugRelatedField):
    """A reference by name to an object of the caller's account; others do not exist."""

    def get_queryset(self):
        member = membership_of(self.context["request"])
        return super().get_queryset().filter(account_id=member.account_id)


class MembershipRefField(serializers.PrimaryKeyRelatedField):
    def get_queryset(self):
        member = membership_of(self.context["request"])
        return Membership.objects.filter(account_id=member.account_id)


class TokenSerializer(serializers.ModelSerializer):
    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at"]
        read_only_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]

    def validate_expires_at(self, value):
        if value is not None and value <= timezone.now():
            raise serializers.ValidationError("Must be in the future.")
        return value


class NewTokenSerializer(TokenSerializer):
    token = serializers.CharField(read_only=True, help_text="The secret. Shown once.")

    class Meta(TokenSerializer.Meta):
        fields = [*TokenSerializer.Meta.fields, "token"]


class PolicySerializer(serializers.ModelSerializer):
    # Checked like a request body (nesting, NUL characters), whichever way they are sent.
    actions = JSONField()
    conditions = JSONField(required=False)

    class Meta:
        model = Policy
        fields = ["resource", "actions", "access", "conditions"]

    def validate(self, attrs):
        errors = policy.validate_policy(
            attrs.get("resource"), attrs.get("actions"), attrs.get("conditions", {})
        )
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class RoleSerializer(serializers.ModelSerializer):
    policies = PolicySerializer(many=True)

    class Meta:
        model = Role
        fields = ["id", "name", "description", "builtin", "policies"]
        read_only_fields = ["builtin"]

    def validate_policies(self, value):
        with refusals():
            roles.check_rules(membership_of(self.context["request"]), self.instance, value)
        return value

    def validate_name(self, value):
        with refusals():
            roles.check_name(Role, membership_of(self.context["request"]).account_id, value,
                             self.instance)
        return value

    def create(self, validated_data):
        rules = validated_data.pop("policies")
        return roles.save_role(Role(), rules, **validated_data)

    def update(self, instance, validated_data):
        return roles.save_role(instance, validated_data.pop("policies", None),
                               **validated_data)


class GroupSerializer(serializers.ModelSerializer):
    roles = AccountScopedSlugField(slug_field="name", queryset=Role.objects.all(), many=True,
                                   required=False)
    members = MembershipRefField(many=True, required=False)

    class Meta:
        model = Group
        fields = ["id", "name", "builtin", "roles", "members"]
        read_only_fields = ["builtin"]

    def validate_name(self, value):
        with refusals():
            roles.check_name(Group, membership_of(self.context["request"]).account_id, value,
                             self.instance)
        return value

    def validate(self, attrs):
        """Who gains or loses which role through this change: the rules of
        :func:`accounts.roles.check_group_change`."""
        with refusals(field_level=False):
            roles.check_group_change(membership_of(self.context["request"]), self.instance,
                                     attrs.get("roles"), attrs.get("members"))
        return attrs


class MemberSerializer(serializers.ModelSerializer):
    email = serializers.EmailField(source="user.email")
    name = serializers.CharField(source="user.name", required=False, allow_blank=True)
    groups = AccountScopedSlugField(slug_field="name", queryset=Group.objects.all(), many=True,
                                    required=False)
    invitation_url = serializers.SerializerMethodField(help_text=(
        "Only in the answer that adds a person who has no password yet: their one-time link "
        "to set one (also mailed where mail is configured). Null otherwise."))

    class Meta:
        model = Membership
        fields = ["id", "email", "name", "is_active", "invitation_pending", "groups",
                  "created_at", "invitation_url"]
        read_only_fields = ["invitation_pending", "created_at"]

    def get_invitation_url(self, obj) -> str | None:
        return getattr(self, "invitation_url", None)

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if instance.invitation_pending:
            data["name"] = ""  # not the account's to know before the user accepts
        return data

    def validate_email(self, value):
        if self.instance is not None and value.lower() != self.instance.user.email:
            raise serializers.ValidationError("The email of an existing member cannot change.")
        member = membership_of(self.context["request"])
        if self.instance is None and Membership.objects.filter(
            account_id=member.account_id, user__email=value.lower()
        ).exists():
            raise serializers.ValidationError("This user is already a member of the account.")
        return value.lower()

    def validate(self, attrs):
        """Only roles grant roles: joining groups gives their roles (so does reactivation),
        leaving them or deactivation takes them away; the account keeps an active admin."""
        member = membership_of(self.context["request"])
        if self.instance is not None and self.instance.invitation_pending and attrs.get(
                "is_active"):
            raise serializers.ValidationError(
                {"is_active": "The invitation waits for the user to accept it."})
        before = set(self.instance.groups.all()) if self.instance is not None else set()
        after = set(attrs.get("groups", before))
        active_before = self.instance.is_active if self.instance is not None else False
        active_after = attrs.get("is_active", active_before if self.instance else True)
        held_before = {r for g in before for r in g.roles.all()} if active_before else set()
        held_after = {r for g in after for r in g.roles.all()} if active_after else set()
        given, taken = held_after - held_before, held_before - held_after
        problem = policy.grant_problem(member, given, taken)
        if problem:
            raise serializers.ValidationError({"groups": problem})
        loses_admin = any(policy.is_admin_role(role) for role in taken)
        if loses_admin and not policy.other_active_admins(member.account_id, self.instance.pk):
            raise serializers.ValidationError(
                {"groups": "The account needs at least one active admin."})
        return attrs

    @transaction.atomic
    def create(self, validated_data):
        user_data = validated_data.pop("user")
        return invitations.add_member(
            validated_data.pop("account"), user_data["email"],
            groups=validated_data.pop("groups", []), name=user_data.get("name", ""),
            **validated_data)

    @transaction.atomic
    def update(self, instance, validated_data):
        validated_data.pop("user", None)
        groups = validated_data.pop("groups", None)
        if "is_active" in validated_data:
            instance.is_active = validated_data["is_active"]
            instance.save(update_fields=["is_active"])
        if groups is not None:
            instance.groups.set(groups)
        return instance


class InvitationSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The membership waiting to be accepted.")
    account = serializers.CharField(source="account.slug")
    account_name = serializers.CharField(source="account.name")
    created_at = serializers.DateTimeField()


class MeMembershipSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    account = serializers.CharField(source="account.slug")
    account_name = serializers.CharField(source="account.name")
    groups = serializers.SerializerMethodField()

    def get_groups(self, obj) -> list[str]:
        return [group.name for group in obj.groups.all()]
