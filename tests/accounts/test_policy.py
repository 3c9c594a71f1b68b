"""Policy evaluation: default deny, deny beats allow, conditions, tenants apart."""

import pytest

from accounts import policy
from accounts.models import SYSTEM_ADMIN, SYSTEM_USER, ApiToken, Group, Membership, Policy, Role
from tests.conftest import make_member
from tests.jobs.factories import submit_shell


def role_with(account, name, *rules):
    role = Role.objects.create(account=account, name=name)
    for rule in rules:
        Policy.objects.create(role=role, **rule)
    return role


def fresh(actor):
    """The membership as a new request loads it (its policies read again)."""
    return Membership.objects.select_related("account", "user").get(pk=actor.membership.pk)


def test_a_member_with_no_groups_may_do_nothing(account):
    actor = make_member(account, "nobody@acme.test")
    assert not policy.can(actor.membership, "read", "commands")
    assert not policy.can(actor.membership, "submit", "commands")
    assert policy.restrict(ApiToken.objects.all(), actor.membership, "read", "tokens").count() == 0


def test_new_account_has_builtin_groups_and_roles(account):
    assert set(account.groups.values_list("name", flat=True)) == {SYSTEM_ADMIN, SYSTEM_USER}
    assert set(account.roles.filter(builtin=True).values_list("name", flat=True)) == {
        SYSTEM_ADMIN, SYSTEM_USER}
    admin_group = Group.objects.get(account=account, name=SYSTEM_ADMIN)
    assert list(admin_group.roles.values_list("name", flat=True)) == [SYSTEM_ADMIN]


def test_system_admin_may_do_everything_in_its_account(admin):
    for resource, actions in policy.RESOURCES.items():
        for action in actions:
            assert policy.can(admin.membership, action, resource), (action, resource)


def test_system_user_reads_and_submits_but_does_not_manage(member):
    m = member.membership
    assert policy.can(m, "read", "commands")
    assert policy.can(m, "submit", "commands", command_type="shell")
    assert not policy.can(m, "create", "members")
    assert not policy.can(m, "update", "roles")
    assert not policy.can(m, "delete", "data_sources")


def test_deny_beats_allow(account):
    role = role_with(
        account, "no-shell",
        {"resource": "commands", "actions": ["*"]},
        {"resource": "commands", "actions": ["submit"], "access": "deny"},
    )
    actor = make_member(account, "x@acme.test", [SYSTEM_USER], roles=[role])
    assert policy.can(actor.membership, "read", "commands")
    assert not policy.can(actor.membership, "submit", "commands", command_type="sql")


def test_condition_on_command_types_narrows_a_deny(account):
    role = role_with(
        account, "sql-only",
        {"resource": "commands", "actions": ["read", "submit"]},
        {"resource": "commands", "actions": ["submit"], "access": "deny",
         "conditions": {"command_types": ["shell"]}},
    )
    actor = make_member(account, "analyst@acme.test", roles=[role])
    m = actor.membership
    assert policy.can(m, "submit", "commands", command_type="sql")
    assert not policy.can(m, "submit", "commands", command_type="shell")
    # Asked without a type ("may I submit anything?") the narrow deny does not apply.
    assert policy.can(m, "submit", "commands")


def test_condition_on_command_types_narrows_an_allow(account):
    role = role_with(account, "sql-runner", {
        "resource": "commands", "actions": ["submit"], "conditions": {"command_types": ["sql"]}})
    m = make_member(account, "runner@acme.test", roles=[role]).membership
    assert policy.can(m, "submit", "commands", command_type="sql")
    assert not policy.can(m, "submit", "commands", command_type="shell")


def test_own_condition_limits_to_the_members_objects(account, member, admin):
    own = ApiToken.objects.get(membership=member.membership)
    theirs = ApiToken.objects.get(membership=admin.membership)
    assert policy.can(member.membership, "delete", "tokens", obj=own)
    assert not policy.can(member.membership, "delete", "tokens", obj=theirs)
    visible = policy.restrict(ApiToken.objects.all(), member.membership, "read", "tokens")
    assert list(visible) == [own]


def test_objects_of_another_account_are_never_allowed(admin, outsider):
    theirs = ApiToken.objects.get(membership=outsider.membership)
    assert not policy.can(admin.membership, "read", "tokens", obj=theirs)
    visible = policy.restrict(ApiToken.objects.all(), admin.membership, "read", "tokens")
    assert theirs not in visible


def test_an_unconditional_deny_hides_every_row(account, admin):
    role = role_with(account, "locked", {"resource": "tokens", "actions": ["read"],
                                         "access": "deny"})
    group = Group.objects.create(account=account, name="locked")
    group.roles.add(role)
    admin.membership.groups.add(group)
    m = fresh(admin)
    assert policy.restrict(ApiToken.objects.all(), m, "read", "tokens").count() == 0


def test_a_user_in_two_accounts_sees_each_only_through_that_accounts_token(
    account, other_account, anonymous
):
    first = make_member(account, "both@example.test", [SYSTEM_ADMIN])
    second = make_member(other_account, "both@example.test", [SYSTEM_USER])
    assert first.user == second.user
    me_first = first.client.get("/api/v1/me").json()
    me_second = second.client.get("/api/v1/me").json()
    assert me_first["account"]["slug"] == "acme"
    assert me_second["account"]["slug"] == "globex"
    assert {m["account"] for m in me_first["memberships"]} == {"acme", "globex"}
    # Admin rights in acme do not carry over to globex.
    assert "create" in me_first["permissions"]["members"]
    assert me_second["permissions"]["members"] == []
    assert first.client.get("/api/v1/members/").status_code == 200
    assert second.client.get("/api/v1/members/").status_code == 403


def test_inactive_membership_may_do_nothing(member):
    member.membership.is_active = False
    member.membership.save()
    assert not policy.can(member.membership, "read", "commands")


@pytest.mark.parametrize(("resource", "actions", "conditions", "field"), [
    ("nope", ["read"], {}, "resource"),
    ("commands", [], {}, "actions"),
    ("commands", ["fly"], {}, "actions"),
    ("commands", ["read"], {"color": "red"}, "conditions"),
    ("commands", ["read"], {"command_types": "shell"}, "conditions"),
])
def test_invalid_policies_are_rejected_naming_the_field(resource, actions, conditions, field):
    assert field in policy.validate_policy(resource, actions, conditions)


def test_own_on_a_resource_without_owners_is_rejected():
    assert "conditions" in policy.validate_policy("groups", ["read"], {"own": True})
    assert policy.validate_policy("*", ["read"], {"own": True}) == {}


def test_an_own_allow_on_everything_lists_no_ownerless_rows_and_never_fails(account):
    role = role_with(account, "own-all", {"resource": "*", "actions": ["read"],
                                          "conditions": {"own": True}})
    actor = make_member(account, "own@acme.test", roles=[role])
    assert actor.client.get("/api/v1/groups/").status_code == 200
    assert policy.restrict(Group.objects.all(), actor.membership, "read", "groups").count() == 0
    own_tokens = policy.restrict(ApiToken.objects.all(), actor.membership, "read", "tokens")
    assert list(own_tokens.values_list("membership", flat=True)) == [actor.membership.pk]


def test_a_deny_by_command_type_does_not_hide_rows_without_a_type(account, admin):
    role = role_with(account, "no-shell-anywhere", {
        "resource": "*", "actions": ["read"], "access": "deny",
        "conditions": {"command_types": ["shell"]}})
    group = Group.objects.create(account=account, name="no-shell")
    group.roles.add(role)
    admin.membership.groups.add(group)
    m = fresh(admin)
    tokens = policy.restrict(ApiToken.objects.all(), m, "read", "tokens")
    assert tokens.count() == ApiToken.objects.filter(membership__account=account).count()
    assert policy.can(m, "read", "tokens", obj=tokens.first())


def test_secrets_show_to_the_submitter_and_administrators_as_each_request_sees_its_roles(
        account, member, admin, reader, django_assert_num_queries):
    env = {"env_vars": {"API_TOKEN": "t0ps3cret"}}
    theirs = [submit_shell(member, runtime_env=env) for _ in range(3)]
    readers = fresh(reader)
    policy.policies_of(readers)
    with django_assert_num_queries(0):  # a list of rows: no query per row
        seen = [policy.visible_runtime_env(readers, command) for command in theirs]
    assert seen == [{"env_vars": {"API_TOKEN": policy.REDACTED}}] * 3
    assert policy.visible_runtime_env(fresh(admin), theirs[0]) == env
    assert policy.visible_runtime_env(fresh(member), theirs[0]) == env
    # A new request (a new membership instance) asks again: granted the account, it sees them.
    Group.objects.get(account=account, name=SYSTEM_ADMIN).members.add(reader.membership)
    assert policy.visible_runtime_env(readers, theirs[0])["env_vars"]["API_TOKEN"] == (
        policy.REDACTED)
    assert policy.visible_runtime_env(fresh(reader), theirs[0]) == env
