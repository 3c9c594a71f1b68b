"""Changing who may do what: the rules every surface that edits roles and groups follows
(the portal API, the Qubole shape), and the writes themselves.

The checks raise :class:`ChangeRefused` subclasses naming the field, never an HTTP answer;
each surface maps them to its own format (:class:`Invalid` 400/422, :class:`Forbidden` 403,
:class:`Conflicting` 409). The rules themselves (only roles grant roles, the account keeps
an active admin) are :mod:`accounts.policy`'s; this module says *when* each applies.
"""

from django.db import transaction

from accounts import policy
from accounts.models import Group, Policy, Role


class ChangeRefused(Exception):
    """Why a change of roles or groups is not made."""

    def __init__(self, message, field=None):
        super().__init__(message)
        self.message = message
        self.field = field


class Invalid(ChangeRefused):
    """The change names something wrong (a taken name, a rule the caller may not give)."""


class Forbidden(ChangeRefused):
    """The caller's own rights do not cover what the change takes away."""


class Conflicting(ChangeRefused):
    """The object's nature forbids it (built-in roles and groups)."""


def _held(role):
    return role.pk is not None and role.groups.filter(members__isnull=False).exists()


# -- checks ----------------------------------------------------------------------------------


def check_name(model, account_id, name, instance=None):
    """A role or group name is unique in its account (and a built-in group keeps its name)."""
    clash = model.objects.filter(account_id=account_id, name=name)
    if instance is not None:
        clash = clash.exclude(pk=instance.pk)
    noun = "role" if model is Role else "group"
    if clash.exists():
        raise Invalid(f"A {noun} with this name exists in the account.", field="name")
    if isinstance(instance, Group) and instance.builtin and name != instance.name:
        raise Invalid("Built-in groups keep their name.", field="name")


def check_rules(member, role, rules):
    """New rules for ``role``: when members hold it, the caller needs every right it names,
    before and after (else editing a held role would hand out rights)."""
    if role is not None and _held(role) and not (
            policy.may_grant(member, role.policies.all()) and policy.may_grant(member, rules)):
        raise Invalid("Changing the rules of a role that members hold needs every right it "
                      "names, before and after.", field="policies")


def check_editable(role):
    """Built-in roles keep their rules and names."""
    if role.builtin:
        raise Conflicting("Built-in roles cannot be changed; create a custom role instead.")


def check_role_removal(member, role):
    """A role may go unless built in, or held by members whose loss the caller's rights do
    not cover."""
    if role.builtin:
        raise Conflicting("Built-in roles cannot be deleted.")
    if _held(role):
        problem = policy.grant_problem(member, taken=[role])
        if problem:
            raise Forbidden(problem)


def check_group_change(member, group, roles=None, members=None):
    """Who gains or loses which role when ``group`` (None: a new one) gets these ``roles``
    and ``members`` (None: unchanged). Only roles grant roles; built-in groups keep their
    roles; the account keeps an active admin."""
    old_roles = set(group.roles.all()) if group else set()
    old_members = set(group.members.all()) if group else set()
    new_roles = set(old_roles if roles is None else roles)
    new_members = set(old_members if members is None else members)
    if group is not None and group.builtin and new_roles != old_roles:
        raise Invalid("Built-in groups keep their roles.", field="roles")
    stay = old_members & new_members
    given = (new_roles - old_roles if stay else set()) | (
        new_roles if new_members - old_members else set())
    taken = (old_roles - new_roles if stay else set()) | (
        old_roles if old_members - new_members else set())
    field = "members" if new_members != old_members else "roles"
    problem = policy.grant_problem(member, given, taken)
    if problem:
        raise Invalid(problem, field=field)
    admin_role = next((r for r in old_roles if policy.is_admin_role(r)), None)
    if admin_role is not None and taken and group is not None:
        keeps = admin_role in new_roles and any(m.is_active for m in new_members)
        if not keeps and not policy.other_active_admins(member.account_id,
                                                        excluding_group=group.pk):
            raise Invalid("The account needs at least one active admin.", field=field)


def check_group_removal(member, group):
    """A group may go unless built in, its members' loss is beyond the caller's rights, or
    it is how the account's last active admins hold system-admin."""
    if group.builtin:
        raise Conflicting("Built-in groups cannot be deleted.")
    if group.members.exists():
        problem = policy.grant_problem(member, taken=group.roles.all())
        if problem:
            raise Forbidden(problem)
        if any(policy.is_admin_role(r) for r in group.roles.all()) and not (
                policy.other_active_admins(member.account_id, excluding_group=group.pk)):
            raise Conflicting("The account needs at least one active admin: this group "
                              "holds the last ones.")


# -- writes (after the checks) ---------------------------------------------------------------


@transaction.atomic
def save_role(role, rules=None, **fields):
    """Create (``role.pk`` None) or change a role; ``rules`` (dicts of Policy fields) replace
    its policies when given."""
    for name, value in fields.items():
        setattr(role, name, value)
    role.save()
    if rules is not None:
        role.policies.all().delete()
        Policy.objects.bulk_create(Policy(role=role, **rule) for rule in rules)
    return role


@transaction.atomic
def save_group(group, roles=None, members=None, **fields):
    """Create or change a group; ``roles`` / ``members`` replace its own when given."""
    for name, value in fields.items():
        setattr(group, name, value)
    group.save()
    if roles is not None:
        group.roles.set(roles)
    if members is not None:
        group.members.set(members)
    return group
