"""The accounts part of the portal API: who am I, my tokens, and the account's access setup."""

from contextlib import contextmanager

from django.db import transaction
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import audit, invitations, policy, roles
from accounts.api.serializers import (
    GroupSerializer,
    InvitationSerializer,
    MemberSerializer,
    MeMembershipSerializer,
    NewTokenSerializer,
    RoleSerializer,
    TokenSerializer,
)
from accounts.authentication import membership_of
from accounts.models import ApiToken, Group, Membership, Role
from accounts.permissions import PolicyPermission
from jobportal.problems import Conflict


class MeView(APIView):
    """The caller: user, the membership in use, all memberships, effective permissions."""

    @extend_schema(responses=inline_serializer("Me", {
        "user": serializers.DictField(), "account": serializers.DictField(),
        "memberships": MeMembershipSerializer(many=True),
        "permissions": serializers.DictField(),
    }))
    def get(self, request):
        member = membership_of(request)
        memberships = (
            Membership.objects.filter(user=request.user, is_active=True)
            .select_related("account").prefetch_related("groups")
        )
        return Response({
            "user": {"id": request.user.pk, "email": request.user.email, "name": request.user.name},
            "account": {"id": member.account_id, "slug": member.account.slug,
                        "name": member.account.name, "membership_id": member.pk},
            "memberships": MeMembershipSerializer(memberships, many=True).data,
            "permissions": policy.effective_permissions(member),
        })


class InvitationViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Accounts that added the caller (an existing user) as a member: accept or decline.
    Only the invited user sees an invitation; the membership is inactive until accepted."""

    serializer_class = InvitationSerializer
    pagination_class = None

    def get_queryset(self):
        return policy.invitations_of(self.request.user).select_related("account").order_by(
            "created_at", "id")

    @extend_schema(request=None, responses={200: MeMembershipSerializer})
    @action(detail=True, methods=["post"])
    def accept(self, request, pk=None):
        """Join the account: the membership becomes active with the groups it was given."""
        membership = self.get_object()
        with transaction.atomic():
            membership.is_active, membership.invitation_pending = True, False
            membership.save(update_fields=["is_active", "invitation_pending"])
            audit.record("invitations.accept", actor=request.user,
                         account=membership.account, obj=membership, request=request)
        return Response(MeMembershipSerializer(membership).data)

    @extend_schema(request=None, responses={204: None})
    @action(detail=True, methods=["post"])
    def decline(self, request, pk=None):
        """Refuse: the membership is removed; the account learns nothing more."""
        membership = self.get_object()
        with transaction.atomic():
            audit.record("invitations.decline", actor=request.user,
                         account=membership.account, obj=membership, request=request)
            membership.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class AccountScopedViewSet(viewsets.ModelViewSet):
    """Rows of the caller's account that the policy lets them read; writes audited."""

    permission_classes = [PolicyPermission]
    policy_resource = None
    model = None

    def get_queryset(self):
        return policy.restrict(
            self.model.objects.all(), membership_of(self.request), "read", self.policy_resource
        )

    @property
    def member(self):
        return membership_of(self.request)

    def perform_create(self, serializer):
        obj = serializer.save(account=self.member.account)
        audit.record(f"{self.policy_resource}.create", member=self.member, obj=obj,
                     request=self.request)

    def perform_update(self, serializer):
        obj = serializer.save()
        audit.record(f"{self.policy_resource}.update", member=self.member, obj=obj,
                     request=self.request)

    def perform_destroy(self, instance):
        audit.record(f"{self.policy_resource}.delete", member=self.member, obj=instance,
                     request=self.request)
        instance.delete()


class TokenViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                   mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """The caller's own API tokens. Creating one returns its secret once; DELETE revokes."""

    serializer_class = TokenSerializer
    permission_classes = [PolicyPermission]
    policy_resource = "tokens"

    def get_queryset(self):
        member = membership_of(self.request)
        return policy.restrict(ApiToken.objects.all(), member, "read", "tokens").filter(
            membership=member
        )

    @extend_schema(responses={201: NewTokenSerializer})
    def create(self, request, *args, **kwargs):
        serializer = TokenSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        member = membership_of(request)
        token, raw = ApiToken.issue(member, serializer.validated_data["name"],
                                    serializer.validated_data.get("expires_at"))
        audit.record("tokens.create", member=member, obj=token, request=request)
        token.token = raw
        return Response(NewTokenSerializer(token).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        instance.revoke()
        audit.record("tokens.revoke", member=membership_of(self.request), obj=instance,
                     request=self.request)


class MemberViewSet(AccountScopedViewSet):
    """Members of the account (account admins)."""

    serializer_class = MemberSerializer
    policy_resource = "members"
    model = Membership

    def get_queryset(self):
        return super().get_queryset().select_related("user").prefetch_related("groups")

    def perform_create(self, serializer):
        super().perform_create(serializer)
        serializer.invitation_url = invitations.welcome(
            serializer.instance, self.request.build_absolute_uri("/"))

    def perform_destroy(self, instance):
        if instance.pk == self.member.pk:
            raise Conflict("You cannot remove your own membership.")
        roles = {role for group in instance.groups.all() for role in group.roles.all()}
        problem = policy.grant_problem(self.member, taken=roles)
        if problem:
            raise exceptions.PermissionDenied(problem)
        super().perform_destroy(instance)


class GroupViewSet(AccountScopedViewSet):
    """Account groups and the roles they carry (account admins)."""

    serializer_class = GroupSerializer
    policy_resource = "groups"
    model = Group

    def get_queryset(self):
        return super().get_queryset().prefetch_related("roles", "members")

    def perform_destroy(self, instance):
        with refusals():
            roles.check_group_removal(self.member, instance)
        super().perform_destroy(instance)


class RoleViewSet(AccountScopedViewSet):
    """Roles and their allow/deny policies (account admins). Built-in roles are read-only."""

    serializer_class = RoleSerializer
    policy_resource = "roles"
    model = Role

    def get_queryset(self):
        return super().get_queryset().prefetch_related("policies")

    def perform_update(self, serializer):
        with refusals():
            roles.check_editable(serializer.instance)
        with transaction.atomic():
            super().perform_update(serializer)

    def perform_destroy(self, instance):
        with refusals():
            roles.check_role_removal(self.member, instance)
        super().perform_destroy(instance)


@contextmanager
def refusals():
    """A refused change of roles or groups: 409 for built-in objects, 403 for rights."""
    try:
        yield
    except roles.Conflicting as exc:
        raise Conflict(exc.message) from exc
    except roles.Forbidden as exc:
        raise exceptions.PermissionDenied(exc.message) from exc
