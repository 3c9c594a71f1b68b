"""Qubole's roles and groups in-process: the mapping table, the portal's rules on every
change, built-ins protected, access for the four actors, hostile input."""

import json

import pytest
from rest_framework.test import APIClient

from accounts.models import SYSTEM_ADMIN, SYSTEM_USER, Group, Policy, Role
from jobs.compat.qubole.policies import TABLE, from_portal, to_portal
from tests.conftest import make_member

ALLOW_ALL = '[{"access": "allow", "resource": "all"}]'


def qubole(actor):
    client = APIClient()
    client.credentials(HTTP_X_AUTH_TOKEN=actor.token)
    return client


def builtin(account, name, model=Role):
    return model.objects.get(account=account, name=name)


def create_role(actor, name="runners", policies=ALLOW_ALL):
    return qubole(actor).post("/api/v1.2/roles", {"name": name, "policies": policies},
                              format="json")


def test_every_qubole_resource_maps_to_a_portal_policy_and_back():
    for resource, (_, actions) in TABLE.items():
        for action in [*actions, "all"]:
            statement = {"access": "deny", "resource": resource, "action": [action]}
            rules = to_portal(json.dumps([statement]))
            shown = from_portal([Policy(**rule) for rule in rules])
            assert shown[0]["resource"] == resource and shown[0]["access"] == "deny"
            assert action in shown[0]["action"]


def test_statements_as_the_cli_help_writes_them_are_understood():
    rules = to_portal('[{"access":"deny", "resource": "Commands", '
                      '"action": "[\\"create\\",\\"update\\"]"}]')
    assert rules == [{"resource": "commands", "actions": ["cancel", "rerun", "submit"],
                      "access": "deny", "conditions": {}}]


def test_the_builtin_roles_are_shown_as_system_defined(admin):
    body = qubole(admin).get("/api/v1.2/roles").json()
    shown = {r["name"]: r for r in body["roles"]}
    assert shown[SYSTEM_ADMIN]["source"] == "system-defined"
    assert json.loads(shown[SYSTEM_ADMIN]["policy"]) == [
        {"access": "allow", "resource": "all", "action": ["all"]}]
    user_rules = json.loads(shown[SYSTEM_USER]["policy"])
    assert {"access": "allow", "resource": "command", "action": ["create", "read"]} in (
        user_rules)


@pytest.mark.parametrize("who,status", [("admin", 200), ("member", 403), ("reader", 403),
                                        ("outsider", 200)])
def test_access_create_role(actors, who, status):
    assert create_role(actors[who]).status_code == status


@pytest.mark.parametrize("path", ["roles/{role}", "roles/{role}/groups", "groups/{group}",
                                  "groups/{group}/roles", "groups/{group}/qbol_users"])
@pytest.mark.parametrize("who,status", [("admin", 200), ("member", 403), ("reader", 403),
                                        ("outsider", 404)])
def test_access_read_roles_and_groups(actors, account, path, who, status):
    ids = {"role": builtin(account, SYSTEM_USER).pk,
           "group": builtin(account, SYSTEM_USER, Group).pk}
    response = qubole(actors[who]).get("/api/v1.2/" + path.format(**ids))
    assert response.status_code == status


@pytest.mark.parametrize("method,path", [
    ("put", "roles/{role}"), ("delete", "roles/{role}"), ("post", "roles/{role}/duplicate"),
    ("put", "groups/{group}"), ("delete", "groups/{group}"),
    ("post", "groups/{group}/duplicate"), ("put", "groups/{group}/roles/{role}/assign"),
    ("put", "groups/{group}/roles/{role}/unassign"),
    ("put", "groups/{group}/qbol_users/{user}/add"),
    ("put", "groups/{group}/qbol_users/{user}/remove"),
])
@pytest.mark.parametrize("who,status", [("member", 403), ("reader", 403), ("outsider", 404)])
def test_access_change_roles_and_groups(actors, admin, method, path, who, status):
    role = create_role(admin, "custom").json()["roles"]["id"]
    group = qubole(admin).post("/api/v1.2/groups", {"name": "custom-group"},
                               format="json").json()["groups"]["id"]
    url = path.format(role=role, group=group, user=actors["member"].membership.pk)
    response = getattr(qubole(actors[who]), method)(f"/api/v1.2/{url}", {"name": "renamed"},
                                                    format="json")
    assert response.status_code == status
    assert Role.objects.filter(pk=role, name="custom").exists()
    assert Group.objects.filter(pk=group, name="custom-group", members=None).exists()


@pytest.mark.parametrize("path", ["roles", "groups"])
@pytest.mark.parametrize("who,status", [("admin", 200), ("member", 403), ("reader", 403),
                                        ("outsider", 200)])
def test_access_lists_of_roles_and_groups(actors, account, path, who, status):
    response = qubole(actors[who]).get(f"/api/v1.2/{path}")
    assert response.status_code == status
    if status == 200:
        accounts = {item["account_id"] for item in response.json()[path]}
        assert accounts == {actors[who].account.pk}


def test_builtin_roles_and_groups_stay_as_they_are(admin, account):
    client = qubole(admin)
    role = builtin(account, SYSTEM_USER)
    assert client.put(f"/api/v1.2/roles/{role.pk}", {"policies": ALLOW_ALL},
                      format="json").status_code == 409
    assert client.delete(f"/api/v1.2/roles/{role.pk}").status_code == 409
    group = builtin(account, SYSTEM_USER, Group)
    assert client.delete(f"/api/v1.2/groups/{group.pk}").status_code == 409
    custom = create_role(admin).json()["roles"]["id"]
    response = client.put(f"/api/v1.2/groups/{group.pk}/roles/{custom}/assign")
    assert response.status_code == 422 and "roles" in response.json()["errors"]
    assert not builtin(account, SYSTEM_USER, Group).roles.filter(pk=custom).exists()


def test_the_last_admin_cannot_be_removed_from_system_admin(admin, account):
    group = builtin(account, SYSTEM_ADMIN, Group)
    response = qubole(admin).put(
        f"/api/v1.2/groups/{group.pk}/qbol_users/{admin.membership.pk}/remove")
    assert response.status_code == 422
    assert "active admin" in response.json()["error"]["error_message"]


def test_only_roles_grant_roles(account, member):
    """A group manager who holds no command rights cannot hand them out."""
    manager_role = Role.objects.create(account=account, name="group-manager")
    Policy.objects.create(role=manager_role, resource="groups", actions=["*"])
    Policy.objects.create(role=manager_role, resource="roles", actions=["read"])
    manager = make_member(account, "manager@acme.test", roles=[manager_role])
    group = Group.objects.get(account=account, name="group-manager-group")
    admin_role = builtin(account, SYSTEM_ADMIN)
    response = qubole(manager).put(f"/api/v1.2/groups/{group.pk}/roles/{admin_role.pk}/assign")
    assert response.status_code == 422
    assert "needs every right" in response.json()["error"]["error_message"]
    assert not group.roles.filter(pk=admin_role.pk).exists()
    # Adding someone to a group gives them its roles: refused the same way.
    admins = builtin(account, SYSTEM_ADMIN, Group)
    added = qubole(manager).put(
        f"/api/v1.2/groups/{admins.pk}/qbol_users/{member.membership.pk}/add")
    assert added.status_code == 422


def test_roles_are_created_updated_duplicated_and_deleted(admin):
    client = qubole(admin)
    role = create_role(admin, policies=[{"access": "allow", "resource": "command",
                                         "action": ["read"]}]).json()["roles"]
    assert role["source"] == "user-defined"
    updated = client.put(f"/api/v1.2/roles/{role['id']}", {
        "name": "readers", "policies": '[{"resource": "saved_query", "action": "execute"}]'},
        format="json").json()["roles"]
    assert updated["name"] == "readers"
    assert json.loads(updated["policy"]) == [{"access": "allow", "resource": "saved_query",
                                              "action": ["execute"]}]
    copy = client.post(f"/api/v1.2/roles/{role['id']}/duplicate", {}, format="json").json()
    assert copy["roles"]["name"] == "readers-copy"
    assert copy["roles"]["policy"] == updated["policy"]
    assert client.delete(f"/api/v1.2/roles/{role['id']}").json() == {"status": "success"}
    assert client.get(f"/api/v1.2/roles/{role['id']}").status_code == 404


def test_groups_take_users_by_id_or_email_and_roles_by_id(admin, member):
    client = qubole(admin)
    role = create_role(admin).json()["roles"]["id"]
    group = client.post("/api/v1.2/groups", {"name": "team", "members": member.user.email,
                                             "roles": str(role)}, format="json")
    assert group.status_code == 200, group.content
    body = group.json()["groups"]
    assert [m["id"] for m in body["members"]] == [member.membership.pk]
    assert [r["id"] for r in body["roles"]] == [role]
    users = client.get(f"/api/v1.2/groups/{body['id']}/qbol_users").json()["qbol_users"]
    assert [u["email"] for u in users] == [member.user.email]
    changed = client.put(f"/api/v1.2/groups/{body['id']}", {
        "removed_members": str(member.membership.pk), "removed_roles": [role]},
        format="json").json()["groups"]
    assert changed["members"] == [] and changed["roles"] == []
    copy = client.post(f"/api/v1.2/groups/{body['id']}/duplicate", {"name": "team-two"},
                       format="json").json()["groups"]
    assert copy["name"] == "team-two"
    listed = client.get(f"/api/v1.2/roles/{role}/groups").json()["groups"]
    assert listed == []
    assert client.delete(f"/api/v1.2/groups/{body['id']}").status_code == 200


@pytest.mark.parametrize("body,field", [
    ({"name": "runners", "policies": '[{"resource": "cluster"}]'}, "policies"),
    ({"name": "runners", "policies": '[{"resource": "command", "action": ["fly"]}]'},
     "policies"),
    ({"name": "runners", "policies": '[{"resource": "all", "access": "maybe"}]'}, "policies"),
    ({"name": "runners", "policies": "not json"}, "policies"),
    ({"name": "runners", "policies": "[1, 2]"}, "policies"),
    ({"name": "runners"}, "policies"),
    ({"name": "my role", "policies": ALLOW_ALL}, "name"),
    ({"name": 5, "policies": ALLOW_ALL}, "name"),
    ({"name": SYSTEM_ADMIN, "policies": ALLOW_ALL}, "name"),
    ({"name": "runners", "policies": '[{"resource": "all", "condition": {"x": 1}}]'},
     "policies"),
    ({"name": "runners", "policies": "[" * 5000 + "]" * 5000}, "policies"),
    ({"name": "runners", "policies": '[{"resource": "all\\u0000"}]'}, "policies"),
    ({"name": "runners", "policies": json.dumps([{"resource": "all"}] * 101)}, "policies"),
    ({"name": "runners", "policies": '[{"resource": "command", "action": "[[[[1]]]]"}]'},
     "policies"),
])
def test_bad_roles_are_422_naming_the_field(admin, body, field):
    response = qubole(admin).post("/api/v1.2/roles", body, format="json")
    assert response.status_code == 422, response.content
    assert field in response.json()["errors"]


@pytest.mark.parametrize("body,field", [
    ({"name": "team", "members": "999999"}, "members"),
    ({"name": "team", "members": [{"a": 1}]}, "members"),
    ({"name": "team", "roles": "x,y"}, "roles"),
    ({"name": "Team!"}, "name"),
])
def test_bad_groups_are_422_naming_the_field(admin, body, field):
    response = qubole(admin).post("/api/v1.2/groups", body, format="json")
    assert response.status_code == 422, response.content
    assert field in response.json()["errors"]
    assert not Group.objects.filter(name="team").exists()


def test_role_and_group_lists_are_few_queries_on_a_warm_process(admin, warm_process,
                                                                django_assert_num_queries):
    create_role(admin)
    warm_process(admin)
    client = qubole(admin)
    with django_assert_num_queries(2):  # the roles, then their policies
        assert len(client.get("/api/v1.2/roles").json()["roles"]) == 3
    with django_assert_num_queries(4):  # the groups, their roles, members, members' users
        assert len(client.get("/api/v1.2/groups").json()["groups"]) == 2


def test_a_group_holding_the_last_admins_cannot_be_deleted(admin, account):
    client = qubole(admin)
    admins = builtin(account, SYSTEM_ADMIN, Group)
    admin_role = builtin(account, SYSTEM_ADMIN)
    group = client.post("/api/v1.2/groups", {"name": "owners", "roles": str(admin_role.pk),
                                             "members": str(admin.membership.pk)},
                        format="json").json()["groups"]
    assert client.put(f"/api/v1.2/groups/{admins.pk}/qbol_users/{admin.membership.pk}/remove"
                      ).status_code == 200  # still an admin through "owners"
    response = client.delete(f"/api/v1.2/groups/{group['id']}")
    assert response.status_code == 409
    assert "active admin" in response.json()["error"]["error_message"]
    assert Group.objects.filter(pk=group["id"]).exists()


@pytest.mark.parametrize("path", ["roles/{other_role}/assign", "qbol_users/{other_user}/add",
                                  "roles/x/unassign", "qbol_users/no@such.user/remove"])
def test_a_role_or_user_of_another_account_in_the_path_is_404(admin, account, outsider, path):
    group = builtin(account, SYSTEM_USER, Group)
    url = path.format(other_role=builtin(outsider.account, SYSTEM_USER).pk,
                      other_user=outsider.membership.pk)
    response = qubole(admin).put(f"/api/v1.2/groups/{group.pk}/{url}")
    assert response.status_code == 404
    assert response.json()["error"]["error_code"] == 404
