"""Qubole's policy statements <-> the portal's policies, through one table.

A Qubole role's ``policies`` is JSON text (or a list) of statements such as
``{"access": "allow", "resource": "command", "action": ["create", "read"]}``; no ``action``
means every action. :data:`TABLE` names, for each Qubole resource, the portal resource it is
and what each Qubole action allows there; the way back (showing a portal role to a Qubole
client) is read from the same table. Portal conditions (``own``, ``command_types``) may be
given as ``condition`` and are shown the same way. Resources the portal does not have
(clusters, notebooks, apps, ...) are refused by name rather than dropped: a role that looks
granted but is not would mislead whoever reads it.
"""


from accounts import policy
from jobportal import untrusted
from jobs.compat.qubole.base import Invalid

ALL = "all"
MAX_STATEMENTS = 100
CRUD = {"create": ["create"], "read": ["read"], "update": ["update"], "delete": ["delete"]}
# Qubole resource -> (portal resource, {Qubole action: portal actions}). "all" as an action
# is every action of the resource, everywhere.
TABLE = {
    ALL: ("*", {"create": ["create", "submit", "rerun"], "read": ["read"],
                "update": ["update", "cancel"], "delete": ["delete"], "execute": ["run"]}),
    "account": ("account", {"read": ["read"], "update": ["update"]}),
    "command": ("commands", {"create": ["submit", "rerun"], "read": ["read"],
                             "update": ["cancel"]}),
    "qbol_user": ("members", CRUD),
    "group": ("groups", CRUD),
    "role": ("roles", CRUD),
    "datastore": ("data_sources", CRUD),
    "object_storage": ("datasets", CRUD),
    "saved_query": ("saved_queries", {**CRUD, "execute": ["run"]}),
    "scheduler": ("schedules", CRUD),  # Qubole's scheduler; pause/resume are updates
    # The portal's own, under its names: API tokens and the audit trail.
    "tokens": ("tokens", {"create": ["create"], "read": ["read"], "delete": ["delete"]}),
    "audit": ("audit", {"read": ["read"]}),
}
BY_PORTAL = {portal: name for name, (portal, _) in TABLE.items()}


def _resource(value):
    text = str(value).strip().lower().replace(" ", "_") if isinstance(value, str) else ""
    for candidate in (text, text[:-1] if text.endswith("s") else None):
        if candidate in TABLE:
            return candidate
    raise Invalid(f"Unknown resource {value!r}; one of: {', '.join(TABLE)} (the portal has no "
                  "clusters, notebooks or apps).", field="policies")


def _actions(value, resource):
    """The statement's actions: a list, one name, or a list written as JSON text."""
    if value is None:
        return [ALL]
    if isinstance(value, str):
        try:
            decoded = untrusted.loads(value)
        except ValueError:
            decoded = [part.strip() for part in value.split(",")]
        value = decoded if isinstance(decoded, list) else [decoded]
    if not isinstance(value, list) or not value or not all(isinstance(a, str) for a in value):
        raise Invalid("action must be a list of action names.", field="policies")
    known = TABLE[resource][1]
    names = [a.strip().lower() for a in value]
    unknown = [a for a in names if a not in known and a not in (ALL, "*")]
    if unknown:
        raise Invalid(f"Unknown action(s) {', '.join(unknown)} for {resource}; one of: "
                      f"{ALL}, {', '.join(known)}.", field="policies")
    return names


def to_portal(statements):
    """Policy rows (dicts of resource, actions, access, conditions) for Qubole statements."""
    if isinstance(statements, str):
        try:
            # JSON inside a string, so the parser's checks (nesting, NUL) have not seen it.
            statements = untrusted.loads(statements)
        except ValueError as exc:
            raise Invalid(f"policies is not JSON: {exc}.", field="policies") from exc
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not all(isinstance(s, dict) for s in statements):
        raise Invalid("policies must be a list of policy statements.", field="policies")
    if len(statements) > MAX_STATEMENTS:
        raise Invalid(f"At most {MAX_STATEMENTS} policy statements.", field="policies")
    rules = []
    for statement in statements:
        access = str(statement.get("access", "allow")).lower()
        if access not in ("allow", "deny"):
            raise Invalid("access must be allow or deny.", field="policies")
        resource = _resource(statement.get("resource"))
        portal, known = TABLE[resource]
        names = _actions(statement.get("action", statement.get("actions")), resource)
        actions = ["*"] if ALL in names or "*" in names else sorted(
            {action for name in names for action in known[name]})
        conditions = statement.get("condition") or {}
        errors = policy.validate_policy(portal, actions, conditions)
        if errors:
            raise Invalid(" ".join(m for ms in errors.values() for m in ms), field="policies")
        rules.append({"resource": portal, "actions": actions, "access": access,
                      "conditions": conditions})
    return rules


def from_portal(rules):
    """Qubole statements for a role's policies (unknown portal names shown as they are)."""
    statements = []
    for rule in rules:
        name = BY_PORTAL.get(rule.resource, rule.resource)
        known = TABLE[name][1] if name in TABLE else {}
        if "*" in rule.actions:
            actions = [ALL]
        else:
            actions = [q for q, portal in known.items() if set(portal) & set(rule.actions)]
            actions += [a for a in rule.actions
                        if not any(a in portal for portal in known.values())]
        statement = {"access": rule.access, "resource": name, "action": actions}
        if rule.conditions:
            statement["condition"] = rule.conditions
        statements.append(statement)
    return statements
