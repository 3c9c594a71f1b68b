"""Qubole's role and group endpoints, as ``qds.py role …`` and ``qds.py group …`` call them.

Every change goes through :mod:`accounts.roles` (the rules the portal API follows: only roles
grant roles, built-in roles and groups stay as they are, the account keeps an admin) and is
audited like the portal's. Users are the account's memberships (Qubole's account-scoped
"qbol users"), named by id or email.
"""

import json
from contextlib import contextmanager

from django.core.exceptions import ValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions
from rest_framework.response import Response

from accounts import audit, policy, roles
from accounts.models import Group, Membership, Role
from jobs import reads
from jobs.compat.qubole import docs
from jobs.compat.qubole.base import Invalid, QuboleView, not_found, whole
from jobs.compat.qubole.policies import from_portal, to_portal

OK = "success"


def role_json(role):
    """A role as Qubole shows it: its policies as statement JSON text."""
    return {"id": role.pk, "name": role.name,
            "source": "system-defined" if role.builtin else "user-defined",
            "policy": json.dumps(from_portal(role.policies.all())),
            "account_id": role.account_id}


def group_json(group):
    """A group with its roles and users (memberships)."""
    return {"id": group.pk, "name": group.name,
            "source": "system-defined" if group.builtin else "user-defined",
            "account_id": group.account_id,
            "roles": [{"id": r.pk, "name": r.name} for r in group.roles.all()],
            "members": [{"id": m.pk, "email": m.user.email} for m in group.members.all()]}


def member_json(membership):
    """A user of a group: the membership."""
    return {"id": membership.pk, "email": membership.user.email, "name": membership.user.name,
            "is_active": membership.is_active}


@contextmanager
def refusals():
    """:mod:`accounts.roles`' refusals in Qubole's codes: 422, 403, 409."""
    try:
        yield
    except roles.Invalid as exc:
        raise Invalid(exc.message, field=exc.field) from exc
    except roles.Forbidden as exc:
        raise exceptions.PermissionDenied(exc.message) from exc
    except roles.Conflicting as exc:
        raise Conflict(exc.message) from exc


class Conflict(exceptions.APIException):
    status_code = 409
    default_code = "conflict"


def _ids(value, field):
    """Ids (or emails, for users) from ``"1,2"``, ``[1, 2]`` or ``1``."""
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else (
        value if isinstance(value, list) else [value])
    out = []
    for item in items:
        text = str(item).strip() if isinstance(item, int | str) and not isinstance(
            item, bool) else None
        if not text or len(text) > 254:
            raise Invalid(f"{field} must be a comma-separated list of ids.", field=field)
        out.append(text)
    return out


def valid_name(model, value):
    """``value`` if it is a valid role or group name (the model field's own rules)."""
    if not isinstance(value, str) or not value:
        raise Invalid("name is required: a string.", field="name")
    try:
        model._meta.get_field("name").clean(value, None)
    except ValidationError as exc:
        raise Invalid(f"name: {' '.join(exc.messages)}", field="name") from exc
    return value


class AccessView(QuboleView):
    """Shared lookups of roles, groups and members within the caller's account."""

    def page(self, queryset):
        page = whole(self.request.query_params, "page", 1, 1, 10**9)
        per_page = whole(self.request.query_params, "per_page", 100, 1, 100)
        return list(queryset[(page - 1) * per_page: page * per_page])

    def visible(self, model, resource, pk, action="read"):
        self.require(action, resource)
        found = reads.parse_pk(pk)
        obj = policy.restrict(model.objects.all(), self.member, "read", resource).filter(
            pk=found).first() if found is not None else None
        if obj is None:
            raise not_found(model.__name__.lower(), pk)
        return obj

    def roles_named(self, value, field="roles"):
        """The account's roles named in a body field (422 naming it for one that is not)."""
        return [self.one(Role, ref, field) for ref in _ids(value, field)]

    def members_named(self, value, field="members"):
        """The account's members named by id or email in a body field."""
        return [self.one(Membership, ref, field) for ref in _ids(value, field)]

    def one(self, model, ref, field=None):
        """The account's role or member ``ref``: 422 naming ``field``, or 404 when the
        reference is part of the path (``field`` None)."""
        rows = model.objects.filter(account_id=self.member.account_id)
        text = str(ref)
        if model is Membership and "@" in text:
            found = rows.filter(user__email=text.lower()[:254]).first()
        else:
            pk = reads.parse_pk(text)
            found = rows.filter(pk=pk).first() if pk is not None else None
        if found is not None:
            return found
        noun = "user" if model is Membership else "role"
        if field is None:
            raise not_found(noun, ref)
        raise Invalid(f"No {noun} {ref} in your account.", field=field)

    def record(self, action, obj):
        audit.record(action, member=self.member, obj=obj, request=self.request, shape="qubole")


def change_group(view, group, roles_after=None, members_after=None, **fields):
    """Check ``group``'s change with the portal's rules, save and audit it."""
    with refusals():
        if "name" in fields:
            roles.check_name(Group, view.member.account_id, fields["name"], group)
        roles.check_group_change(view.member, group, roles_after, members_after)
        group = roles.save_group(group, roles_after, members_after, **fields)
    view.record("groups.update", group)
    return group


def role_policies(body, key="policies"):
    """Portal rules for the statements in ``body[key]``, or None when absent."""
    value = body.get(key)
    if value is None:
        return None
    return to_portal(value)


def body_of(request):
    """The JSON object a change sends (422 for anything else)."""
    if not isinstance(request.data, dict):
        raise Invalid("The body must be a JSON object.")
    return request.data


# -- roles ------------------------------------------------------------------------------------


class RolesView(AccessView):
    @extend_schema(parameters=docs.PAGE_PARAMETERS, responses=docs.RoleListSerializer,
                   operation_id="qubole_roles_list", tags=["qubole"])
    def get(self, request):
        """The account's roles, with their policies as Qubole statements."""
        self.require("read", "roles")
        queryset = policy.restrict(Role.objects.prefetch_related("policies"), self.member,
                                   "read", "roles").order_by("id")
        return Response({"roles": [role_json(r) for r in self.page(queryset)]})

    @extend_schema(request=docs.QuboleRoleBodySerializer, responses=docs.RoleChangeSerializer,
                   operation_id="qubole_roles_create", tags=["qubole"])
    def post(self, request):
        """Create a role from Qubole policy statements."""
        self.require("create", "roles")
        body = body_of(request)
        name = valid_name(Role, body.get("name"))
        rules = role_policies(body)
        if rules is None:
            raise Invalid("policies is required.", field="policies")
        role = create_role(self, name, rules)
        return Response({"status": OK, "roles": role_json(role)})


def create_role(view, name, rules):
    """A new role with these rules (the name checked as the portal does), audited."""
    with refusals():
        roles.check_name(Role, view.member.account_id, name)
        role = roles.save_role(Role(account=view.member.account), rules, name=name)
    view.record("roles.create", role)
    return role


class RoleView(AccessView):
    @extend_schema(responses=docs.QuboleRoleSerializer, parameters=[docs.ID],
                   operation_id="qubole_role", tags=["qubole"])
    def get(self, request, pk):
        return Response(role_json(self.visible(Role, "roles", pk)))

    @extend_schema(request=docs.QuboleRoleBodySerializer, responses=docs.RoleChangeSerializer,
                   parameters=[docs.ID], operation_id="qubole_role_update", tags=["qubole"])
    def put(self, request, pk):
        """Rename a role or replace its policies (not the built-in ones)."""
        role = self.visible(Role, "roles", pk, "update")
        body = body_of(request)
        fields = {"name": valid_name(Role, body["name"])} if "name" in body else {}
        rules = role_policies(body)
        with refusals():
            roles.check_editable(role)
            if fields:
                roles.check_name(Role, self.member.account_id, fields["name"], role)
            if rules is not None:
                roles.check_rules(self.member, role, rules)
            role = roles.save_role(role, rules, **fields)
        self.record("roles.update", role)
        return Response({"status": OK, "roles": role_json(role)})

    @extend_schema(responses={200: docs.QuboleStatusSerializer}, parameters=[docs.ID],
                   operation_id="qubole_role_delete", tags=["qubole"])
    def delete(self, request, pk):
        role = self.visible(Role, "roles", pk, "delete")
        with refusals():
            roles.check_role_removal(self.member, role)
        self.record("roles.delete", role)
        role.delete()
        return Response({"status": OK})


class RoleDuplicateView(AccessView):
    @extend_schema(request=docs.QuboleRoleBodySerializer, responses=docs.RoleChangeSerializer,
                   parameters=[docs.ID], operation_id="qubole_role_duplicate", tags=["qubole"])
    def post(self, request, pk):
        """A new role with this role's policies (or ``policy``), named ``name``."""
        role = self.visible(Role, "roles", pk)
        self.require("create", "roles")
        body = body_of(request)
        name = valid_name(Role, body.get("name") or f"{role.name}-copy"[:100])
        rules = role_policies(body, "policy")
        if rules is None:
            rules = [{"resource": p.resource, "actions": p.actions, "access": p.access,
                      "conditions": p.conditions} for p in role.policies.all()]
        return Response({"status": OK, "roles": role_json(create_role(self, name, rules))})


class RoleGroupsView(AccessView):
    @extend_schema(responses=docs.GroupListSerializer, parameters=[docs.ID],
                   operation_id="qubole_role_groups", tags=["qubole"])
    def get(self, request, pk):
        """The groups that carry this role."""
        role = self.visible(Role, "roles", pk)
        self.require("read", "groups")
        groups = role.groups.prefetch_related("roles", "members__user").order_by("id")
        return Response({"groups": [group_json(g) for g in groups]})
