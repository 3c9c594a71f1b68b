"""Qubole's group endpoints: groups, their users (memberships) and their roles; every change
through :func:`.access.change_group` (the portal's rules, audited)."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from accounts import policy, roles
from accounts.models import Group, Membership, Role
from jobs.compat.qubole import docs
from jobs.compat.qubole.access import (
    OK,
    AccessView,
    body_of,
    change_group,
    group_json,
    member_json,
    refusals,
    role_json,
    valid_name,
)
from jobs.compat.qubole.base import Invalid

OTHER = OpenApiParameter("ref", str, location=OpenApiParameter.PATH,
                         description="The user (membership id or email) or role id.")


def _groups(view):
    return policy.restrict(Group.objects.prefetch_related("roles", "members__user"),
                           view.member, "read", "groups")


class GroupsView(AccessView):
    @extend_schema(parameters=docs.PAGE_PARAMETERS, responses=docs.GroupListSerializer,
                   operation_id="qubole_groups_list", tags=["qubole"])
    def get(self, request):
        self.require("read", "groups")
        return Response({"groups": [group_json(g) for g in
                                    self.page(_groups(self).order_by("id"))]})

    @extend_schema(request=docs.QuboleGroupBodySerializer, responses=docs.GroupChangeSerializer,
                   operation_id="qubole_groups_create", tags=["qubole"])
    def post(self, request):
        """Create a group, optionally with users (``members``) and ``roles`` (ids)."""
        self.require("create", "groups")
        body = body_of(request)
        name = valid_name(Group, body.get("name"))
        members = self.members_named(body.get("members"))
        given = self.roles_named(body.get("roles"))
        group = create_group(self, name, given, members)
        return Response({"status": OK, "groups": group_json(group)})


def create_group(view, name, given, members):
    """A new group with these roles and members, by the portal's rules, audited."""
    with refusals():
        roles.check_name(Group, view.member.account_id, name)
        roles.check_group_change(view.member, None, given, members)
        group = roles.save_group(Group(account=view.member.account), given, members, name=name)
    view.record("groups.create", group)
    return group


class GroupView(AccessView):
    @extend_schema(responses=docs.QuboleGroupSerializer, parameters=[docs.ID],
                   operation_id="qubole_group", tags=["qubole"])
    def get(self, request, pk):
        return Response(group_json(self.visible(Group, "groups", pk)))

    @extend_schema(request=docs.QuboleGroupBodySerializer, responses=docs.GroupChangeSerializer,
                   parameters=[docs.ID], operation_id="qubole_group_update", tags=["qubole"])
    def put(self, request, pk):
        """Rename; add ``members``/``roles``; take ``removed_members``/``removed_roles``."""
        group = self.visible(Group, "groups", pk, "update")
        body = body_of(request)
        fields = {"name": valid_name(Group, body["name"])} if "name" in body else {}
        members = set(group.members.all())
        members |= set(self.members_named(body.get("members")))
        members -= set(self.members_named(body.get("removed_members"), "removed_members"))
        held = set(group.roles.all())
        held |= set(self.roles_named(body.get("roles")))
        held -= set(self.roles_named(body.get("removed_roles"), "removed_roles"))
        group = change_group(self, group, held, members, **fields)
        return Response({"status": OK, "groups": group_json(group)})

    @extend_schema(responses={200: docs.QuboleStatusSerializer}, parameters=[docs.ID],
                   operation_id="qubole_group_delete", tags=["qubole"])
    def delete(self, request, pk):
        group = self.visible(Group, "groups", pk, "delete")
        with refusals():
            roles.check_group_removal(self.member, group)
        self.record("groups.delete", group)
        group.delete()
        return Response({"status": OK})


class GroupDuplicateView(AccessView):
    @extend_schema(request=docs.QuboleGroupBodySerializer, responses=docs.GroupChangeSerializer,
                   parameters=[docs.ID], operation_id="qubole_group_duplicate", tags=["qubole"])
    def post(self, request, pk):
        """A new group with this group's roles and users, named ``name``."""
        group = self.visible(Group, "groups", pk)
        self.require("create", "groups")
        name = valid_name(Group, body_of(request).get("name") or f"{group.name}-copy"[:100])
        copy = create_group(self, name, list(group.roles.all()), list(group.members.all()))
        return Response({"status": OK, "groups": group_json(copy)})


class GroupUsersView(AccessView):
    @extend_schema(responses=docs.QuboleUsersSerializer, parameters=[docs.ID],
                   operation_id="qubole_group_users", tags=["qubole"])
    def get(self, request, pk):
        group = self.visible(Group, "groups", pk)
        self.require("read", "members")
        users = group.members.select_related("user").order_by("id")
        return Response({"qbol_users": [member_json(m) for m in users]})


class GroupRolesView(AccessView):
    @extend_schema(responses=docs.RoleListSerializer, parameters=[docs.ID],
                   operation_id="qubole_group_roles", tags=["qubole"])
    def get(self, request, pk):
        group = self.visible(Group, "groups", pk)
        self.require("read", "roles")
        held = group.roles.prefetch_related("policies").order_by("id")
        return Response({"roles": [role_json(r) for r in held]})


class GroupUserChangeView(AccessView):
    """``groups/{id}/qbol_users/{user}/add|remove``."""

    change = None  # "add" | "remove"

    @extend_schema(request=None, responses=docs.GroupChangeSerializer,
                   parameters=[docs.ID, OTHER], tags=["qubole"])
    def put(self, request, pk, ref):
        group = self.visible(Group, "groups", pk, "update")
        user = self.one(Membership, ref)
        members = set(group.members.all())
        members = members | {user} if self.change == "add" else members - {user}
        group = change_group(self, group, members_after=members)
        return Response({"status": OK, "groups": group_json(group)})


class GroupRoleChangeView(AccessView):
    """``groups/{id}/roles/{role}/assign|unassign``."""

    change = None  # "assign" | "unassign"

    @extend_schema(request=None, responses=docs.GroupChangeSerializer,
                   parameters=[docs.ID, OTHER], tags=["qubole"])
    def put(self, request, pk, ref):
        group = self.visible(Group, "groups", pk, "update")
        role = self.one(Role, ref)
        held = set(group.roles.all())
        if (role in held) == (self.change == "assign"):
            raise Invalid(f"Role {role.pk} is {'already' if role in held else 'not'} "
                          f"assigned to group {group.pk}.", field="role")
        held = held | {role} if self.change == "assign" else held - {role}
        group = change_group(self, group, roles_after=held)
        return Response({"status": OK, "groups": group_json(group)})
