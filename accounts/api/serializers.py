"""Serializers of the accounts API. Validation only; changes go through model/policy helpers."""

from django.db import transaction
from django.utils import timezone
from rest_framework import serializers

from accounts import policy
from accounts.authentication import membership_of
from accounts.models import ApiToken, Group, Membership, Policy, Role, User
from jobportal.fields import JSONField


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
        member = membership_of(self.context["request"])
        role = self.instance
        if role is not None and role.groups.filter(members__isnull=False).exists() and not (
                policy.may_grant(member, role.policies.all()) and policy.may_grant(member, value)):
            raise serializers.ValidationError(
                "Changing the rules of a role that members hold needs every right it names, "
                "before and after.")
        return value

    def validate_name(self, value):
        member = membership_of(self.context["request"])
        clash = Role.objects.filter(account_id=member.account_id, name=value)
        if self.instance is not None:
            clash = clash.exclude(pk=self.instance.pk)
        if clash.exists():
            raise serializers.ValidationError("A role with this name exists in the account.")
        return value

    @transaction.atomic
    def create(self, validated_data):
        rules = validated_data.pop("policies")
        role = Role.objects.create(**validated_data)
        Policy.objects.bulk_create(Policy(role=role, **rule) for rule in rules)
        return role

    @transaction.atomic
    def update(self, instance, validated_data):
        rules = validated_data.pop("policies", None)
        for field, value in validated_data.items():
            setattr(instance, field, value)
        instance.save()
        if rules is not None:
            instance.policies.all().delete()
            Policy.objects.bulk_create(Policy(role=instance, **rule) for rule in rules)
        return instance


class GroupSerializer(serializers.ModelSerializer):
    roles = AccountScopedSlugField(slug_field="name", queryset=Role.objects.all(), many=True,
                                   required=False)
    members = MembershipRefField(many=True, required=False)

    class Meta:
        model = Group
        fields = ["id", "name", "builtin", "roles", "members"]
        read_only_fields = ["builtin"]

    def validate_name(self, value):
        member = membership_of(self.context["request"])
        clash = Group.objects.filter(account_id=member.account_id, name=value)
        if self.instance is not None:
            clash = clash.exclude(pk=self.instance.pk)
        if clash.exists():
            raise serializers.ValidationError("A group with this name exists in the account.")
        if self.instance is not None and self.instance.builtin and value != self.instance.name:
            raise serializers.ValidationError("Built-in groups keep their name.")
        return value

    def validate_roles(self, value):
        if self.instance is not None and self.instance.builtin and (
            {r.pk for r in value} != set(self.instance.roles.values_list("pk", flat=True))
        ):
            raise serializers.ValidationError("Built-in groups keep their roles.")
        return value

    def validate(self, attrs):
        """Who gains or loses which role through this change (only roles grant roles), and
        the account keeps an active admin."""
        member = membership_of(self.context["request"])
        group = self.instance
        old_roles = set(group.roles.all()) if group else set()
        old_members = set(group.members.all()) if group else set()
        new_roles = set(attrs.get("roles", old_roles))
        new_members = set(attrs.get("members", old_members))
        given = (new_roles - old_roles if old_members & new_members else set()) | (
            new_roles if new_members - old_members else set())
        taken = (old_roles - new_roles if old_members & new_members else set()) | (
            old_roles if old_members - new_members else set())
        field = "members" if new_members != old_members else "roles"
        problem = policy.grant_problem(member, given, taken)
        if problem:
            raise serializers.ValidationError({field: problem})
        admin_role = next((r for r in old_roles if policy.is_admin_role(r)), None)
        if admin_role is not None and taken and group is not None:
            keeps = any(m.is_active for m in new_members) if admin_role in new_roles else False
            if not keeps and not policy.other_active_admins(member.account_id,
                                                            excluding_group=group.pk):
                raise serializers.ValidationError(
                    {field: "The account needs at least one active admin."})
        return attrs


class MemberSerializer(serializers.ModelSerializer):
    email = serializers.EmailField(source="user.email")
    name = serializers.CharField(source="user.name", required=False, allow_blank=True)
    groups = AccountScopedSlugField(slug_field="name", queryset=Group.objects.all(), many=True,
                                    required=False)

    class Meta:
        model = Membership
        fields = ["id", "email", "name", "is_active", "invitation_pending", "groups",
                  "created_at"]
        read_only_fields = ["invitation_pending", "created_at"]

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
        groups = validated_data.pop("groups", [])
        user = User.objects.filter(email=user_data["email"]).first()
        if user is None:
            user = User.objects.create_user(user_data["email"], name=user_data.get("name", ""))
        else:
            # Someone who already has an account here joins only if they accept; until then
            # the membership is inactive and shows no name.
            validated_data.update(is_active=False, invitation_pending=True)
        membership = Membership.objects.create(user=user, **validated_data)
        membership.groups.set(groups)
        return membership

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
