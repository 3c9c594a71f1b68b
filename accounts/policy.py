"""The one place that decides who may do what.

Two questions, asked by every surface (portal API, compatibility shapes, HTML pages, admin
actions):

- :func:`can` — may this member do ACTION on RESOURCE (optionally this object)?
- :func:`restrict` — which rows of this queryset may this member see (or act on)?

Rules are :class:`~accounts.models.Policy` rows reached through the member's groups and their
roles. Default deny; a matching deny beats any allow. A policy's ``conditions`` narrow it to
commands of some types (``command_types``) or to the member's own objects (``own``).
"""

from django.db.models import Q

from accounts.models import SYSTEM_ADMIN, SYSTEM_USER, Group, Policy, Role

# resource -> the actions that mean something for it. "*" in a policy matches any.
RESOURCES = {
    "account": ["read", "update"],
    "members": ["read", "create", "update", "delete"],
    "groups": ["read", "create", "update", "delete"],
    "roles": ["read", "create", "update", "delete"],
    "tokens": ["read", "create", "delete"],
    "audit": ["read"],
    "commands": ["read", "submit", "cancel", "rerun", "delete"],
    "data_sources": ["read", "create", "update", "delete"],
    "datasets": ["read", "create", "update", "delete"],
    "saved_queries": ["read", "create", "update", "delete", "run"],
    # Pausing and resuming a schedule is an update; its runs are commands (submitted as the
    # schedule's owner, with the owner's rights).
    "schedules": ["read", "create", "update", "delete"],
}
CONDITION_KEYS = {"command_types", "own"}
# Resources whose objects have an owner (the member who created them), for ``own``.
OWNABLE = {"commands", "tokens", "members", "data_sources", "datasets", "saved_queries",
           "schedules"}

BUILTIN_ROLES = {
    SYSTEM_ADMIN: ("Everything in the account.", [{"resource": "*", "actions": ["*"]}]),
    SYSTEM_USER: (
        "Read the account's commands, data and schedules, submit commands, make schedules; "
        "cancel, re-run, delete, change their own.",
        [
            {"resource": "account", "actions": ["read"]},
            {"resource": "commands", "actions": ["read", "submit"]},
            {"resource": "commands", "actions": ["cancel", "rerun", "delete"],
             "conditions": {"own": True}},
            {"resource": "data_sources", "actions": ["read"]},
            {"resource": "datasets", "actions": ["read", "create"]},
            {"resource": "saved_queries", "actions": ["read", "create", "run"]},
            {"resource": "saved_queries", "actions": ["update", "delete"],
             "conditions": {"own": True}},
            {"resource": "schedules", "actions": ["read", "create"]},
            {"resource": "schedules", "actions": ["update", "delete"],
             "conditions": {"own": True}},
            {"resource": "tokens", "actions": ["*"], "conditions": {"own": True}},
        ],
    ),
}


def install_builtin_roles(account):
    """Create the account's ``system-admin`` and ``system-user`` roles and groups (idempotent)."""
    for name, (description, rules) in BUILTIN_ROLES.items():
        role, created = Role.objects.get_or_create(
            account=account, name=name, defaults={"description": description, "builtin": True}
        )
        if created:
            Policy.objects.bulk_create(Policy(role=role, **rule) for rule in rules)
        group, _ = Group.objects.get_or_create(
            account=account, name=name, defaults={"builtin": True}
        )
        group.roles.add(role)


def policies_of(member):
    """The member's policies, fetched once per membership instance (one query)."""
    cached = getattr(member, "_policies", None)
    if cached is None:
        cached = list(
            Policy.objects.filter(
                role__groups__members=member, role__account_id=member.account_id
            )
            .only("resource", "actions", "access", "conditions")
            .distinct()
        )
        member._policies = cached
    return cached


def _matches(policy, action, resource):
    actions = policy.actions
    return policy.resource in (resource, "*") and (action in actions or "*" in actions)


def _related_id(obj, path):
    """The id at the end of a ``policy_*_field`` path such as ``membership__user``."""
    *hops, last = path.split("__")
    for hop in hops:
        obj = getattr(obj, hop)
    return getattr(obj, f"{last}_id", None)


def _owner_id(obj):
    return _related_id(obj, getattr(type(obj), "policy_owner_field", "user"))


def _applies(policy, member, obj, command_type):
    """Does the policy's condition hold here?

    When the object or type is not known (asking "may I ever submit?"), an allow with a
    condition counts (the member may do it for some objects) and a deny with one does not.
    """
    conditions = policy.conditions or {}
    unknown = policy.access == Policy.Access.ALLOW
    types = conditions.get("command_types")
    if types:
        kind = command_type or getattr(obj, "command_type", None)
        if kind is None:
            if not unknown:
                return False
        elif kind not in types:
            return False
    if conditions.get("own"):
        if obj is None:
            return unknown
        if _owner_id(obj) != member.user_id:
            return False
    return True


def can(member, action, resource, obj=None, command_type=None):
    """May ``member`` do ``action`` on ``resource`` (this ``obj``, this ``command_type``)?"""
    if member is None or not member.is_active or not member.account.is_active:
        return False
    if obj is not None:
        account_path = getattr(type(obj), "policy_account_field", "account")
        if _related_id(obj, account_path) != member.account_id:
            return False
    allowed = False
    for policy in policies_of(member):
        if not _matches(policy, action, resource):
            continue
        if not _applies(policy, member, obj, command_type):
            continue
        if policy.access == Policy.Access.DENY:
            return False
        allowed = True
    return allowed


def _condition_q(policy, member, model):
    """The rows a policy's conditions select, or None when the policy does not apply to this
    model at all. Mirrors :func:`_applies`: a condition the model cannot have (no command
    type, no owner) leaves an allow unnarrowed by type but matching no owned rows, and makes a
    deny not apply."""
    conditions = policy.conditions or {}
    deny = policy.access == Policy.Access.DENY
    q = Q()
    types = conditions.get("command_types")
    if types:
        if _has_field(model, "command_type"):
            q &= Q(command_type__in=types)
        elif deny:
            return None
    if conditions.get("own"):
        owner = getattr(model, "policy_owner_field", "user")
        if not _has_field(model, owner.split("__")[0]):
            return None if deny else Q(pk__in=[])
        q &= Q(**{owner: member.user_id})
    return q


def _has_field(model, name):
    return any(field.name == name for field in model._meta.get_fields())


def restrict(queryset, member, action, resource):
    """Rows of ``queryset`` that ``member`` may ``action``: same account, allowed, not denied."""
    if member is None or not member.is_active or not member.account.is_active:
        return queryset.none()
    model = queryset.model
    # An empty Q() means "every row"; OR-ing it into other Qs would lose that, so the
    # unconditional case is tracked apart.
    allowed, denied, allow_all, any_allow = Q(), Q(), False, False
    for policy in policies_of(member):
        if not _matches(policy, action, resource):
            continue
        q = _condition_q(policy, member, model)
        if q is None:
            continue
        if policy.access == Policy.Access.DENY:
            if not q:
                return queryset.none()
            denied |= q
        elif not q:
            allow_all = any_allow = True
        else:
            allowed |= q
            any_allow = True
    if not any_allow:
        return queryset.none()
    account_field = getattr(model, "policy_account_field", "account")
    queryset = queryset.filter(**{account_field: member.account_id})
    if not allow_all:
        queryset = queryset.filter(allowed)
    if denied:
        queryset = queryset.exclude(denied)
    return queryset


# Environment variable names that usually hold credentials (matched case-insensitively).
SECRET_NAME_PARTS = ("TOKEN", "SECRET", "PASSWORD", "PASSWD", "KEY", "CREDENTIAL")
REDACTED = "********"


def may_see_secrets(member, command):
    """The submitter and the account's administrators see secret-looking values; readers see
    that they are set, not what they are."""
    if command.user_id == member.user_id:
        return True
    # Whether the member administers the account, asked once per membership instance (as its
    # policies are read once): a list asks it for every row.
    administers = getattr(member, "_administers", None)
    if administers is None:
        administers = member._administers = can(member, "update", "account")
    return administers


def _redacted(values):
    return {name: REDACTED if any(part in str(name).upper() for part in SECRET_NAME_PARTS)
            else value for name, value in values.items()}


def visible_runtime_env(member, command):
    """``command.runtime_env`` with secret-looking ``env_vars`` values redacted unless
    ``member`` may see them: the one rule every surface shows runtime environments by."""
    env = command.runtime_env or {}
    variables = env.get("env_vars")
    if not variables or may_see_secrets(member, command):
        return env
    return {**env, "env_vars": _redacted(variables)}


def visible_metadata(member, command):
    """``command.metadata`` with the values of secret-looking keys redacted unless ``member``
    may see them (the rule of :func:`visible_runtime_env`)."""
    metadata = command.metadata or {}
    if not metadata or may_see_secrets(member, command):
        return metadata
    return _redacted(metadata)


def may_grant(member, rules):
    """Only roles grant roles: may ``member`` hand out these rules (policies or dicts with
    ``resource``, ``actions``, ``conditions``)? Only when each lies within the member's own
    rights, held without a narrowing condition (or with the very same one) and not denied.
    ``system-admin`` (everything) is thus grantable only by members who hold everything,
    whatever their groups are called."""
    for rule in rules:
        rule = rule if isinstance(rule, dict) else {
            "resource": rule.resource, "actions": rule.actions, "conditions": rule.conditions}
        for resource, action in _expand(rule["resource"], rule["actions"]):
            if not _holds(member, action, resource, rule.get("conditions") or {}):
                return False
    return True


def grant_problem(member, given=(), taken=()):
    """Why ``member`` may not give the roles ``given`` to someone and take ``taken`` away, or
    None. Giving needs every right of the role; taking away needs it for roles whose loss
    widens or ends someone's reach: roles with deny rules, and ``system-admin``."""
    for role in given:
        if not may_grant(member, role.policies.all()):
            return f"Giving the role {role.name!r} needs every right it grants."
    for role in taken:
        rules = role.policies.all()
        if (is_admin_role(role) or any(r.access == Policy.Access.DENY for r in rules)) and (
                not may_grant(member, rules)):
            return f"Taking away the role {role.name!r} needs every right it names."
    return None


def _expand(resource, actions):
    resources = list(RESOURCES) if resource == "*" else [resource]
    for name in resources:
        for action in (RESOURCES.get(name, []) if "*" in actions else actions):
            yield name, action


def _holds(member, action, resource, conditions):
    held = False
    for own in policies_of(member):
        if not _matches(own, action, resource):
            continue
        if own.access == Policy.Access.DENY:
            return False
        if not own.conditions or own.conditions == conditions:
            held = True
    return held


def is_admin_role(role):
    """The account's built-in ``system-admin`` role (recognised by the role, not a group)."""
    return role.builtin and role.name == SYSTEM_ADMIN


def other_active_admins(account_id, excluding_membership_id=None, excluding_group=None):
    """Are there active members holding the account's ``system-admin`` role, other than this
    membership (and not through this group)?"""
    groups = Group.objects.filter(account_id=account_id, roles__name=SYSTEM_ADMIN,
                                  roles__builtin=True)
    if excluding_group is not None:
        groups = groups.exclude(pk=excluding_group)
    from accounts.models import Membership

    return Membership.objects.filter(
        account_id=account_id, is_active=True, groups__in=groups,
    ).exclude(pk=excluding_membership_id).exists()


def invitations_of(user):
    """Memberships waiting for ``user`` to accept: only their own, whatever their rights."""
    from accounts.models import Membership

    return Membership.objects.filter(user=user, invitation_pending=True,
                                     account__is_active=True)


def effective_permissions(member):
    """``{resource: [actions]}`` this member may do on at least some objects."""
    return {
        resource: [action for action in actions if can(member, action, resource)]
        for resource, actions in RESOURCES.items()
    }


def validate_policy(resource, actions, conditions):
    """Return a dict of field errors for a policy definition (empty when valid)."""
    errors = {}
    if resource != "*" and resource not in RESOURCES:
        errors["resource"] = [f"Unknown resource {resource!r}; one of: *, {', '.join(RESOURCES)}."]
    if not isinstance(actions, list) or not actions or not all(isinstance(a, str) for a in actions):
        errors["actions"] = ["A non-empty list of action names."]
    elif resource in RESOURCES:
        unknown = [a for a in actions if a != "*" and a not in RESOURCES[resource]]
        if unknown:
            errors["actions"] = [
                f"Unknown action(s) {', '.join(unknown)} for {resource}; "
                f"one of: *, {', '.join(RESOURCES[resource])}."
            ]
    if not isinstance(conditions, dict):
        errors["conditions"] = ["An object."]
    else:
        extra = set(conditions) - CONDITION_KEYS
        types = conditions.get("command_types")
        if extra:
            errors["conditions"] = [f"Unknown condition(s): {', '.join(sorted(extra))}."]
        elif types is not None and (
            not isinstance(types, list) or not all(isinstance(t, str) for t in types)
        ):
            errors["conditions"] = ["command_types must be a list of command type names."]
        elif "own" in conditions and not isinstance(conditions["own"], bool):
            errors["conditions"] = ["own must be true or false."]
        elif conditions.get("own") and resource not in OWNABLE | {"*"}:
            errors["conditions"] = [f"{resource} have no owner; own applies to: "
                                    f"{', '.join(sorted(OWNABLE))}."]
    return errors
