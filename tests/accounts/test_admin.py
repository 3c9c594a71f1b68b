"""The access admin: built-in roles and groups protected, every operator change audited."""

import pytest

from accounts.models import ApiToken, AuditEvent, Group, Membership, Role, User
from tests.conftest import client_for


@pytest.fixture
def operator(db, client):
    user = User.objects.create_superuser("ops@portal.test")
    client.force_login(user)
    client.user = user
    return client


def events(action):
    return list(AuditEvent.objects.filter(action=action).values_list(
        "actor__email", "account__slug", "object_id", "detail"))


def policy_formset(prefix="policies", total=0, initial=0, rows=()):
    data = {f"{prefix}-TOTAL_FORMS": str(total), f"{prefix}-INITIAL_FORMS": str(initial),
            f"{prefix}-MIN_NUM_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "1000"}
    for i, row in enumerate(rows):
        data.update({f"{prefix}-{i}-{key}": value for key, value in row.items()})
    return data


def test_builtin_roles_open_read_only_and_cannot_be_deleted(operator, account):
    role = Role.objects.get(account=account, name="system-admin")
    page = operator.get(f"/admin/accounts/role/{role.pk}/change/")
    assert page.status_code == 200
    assert page.context["has_change_permission"] is False
    assert operator.post(f"/admin/accounts/role/{role.pk}/change/",
                         {"name": "renamed", **policy_formset()}).status_code == 403
    assert operator.post(f"/admin/accounts/role/{role.pk}/delete/",
                         {"post": "yes"}).status_code == 403
    role.refresh_from_db()
    assert role.name == "system-admin"
    assert role.policies.exists()


def test_a_bulk_delete_that_includes_a_builtin_role_deletes_nothing(operator, account):
    custom = Role.objects.create(account=account, name="viewer")
    builtin = Role.objects.get(account=account, name="system-user")
    selected = {"action": "delete_selected", "_selected_action": [custom.pk, builtin.pk]}
    refusal = operator.post("/admin/accounts/role/", selected).content.decode()
    assert "Cannot delete roles" in refusal
    assert operator.post("/admin/accounts/role/", {**selected, "post": "yes"}).status_code == 403
    assert Role.objects.filter(pk__in=[custom.pk, builtin.pk]).count() == 2
    assert events("roles.delete") == []


def test_a_bulk_delete_of_custom_roles_is_audited_per_role(operator, account):
    custom = Role.objects.create(account=account, name="viewer")
    operator.post("/admin/accounts/role/", {
        "action": "delete_selected", "_selected_action": [custom.pk], "post": "yes"})
    assert not Role.objects.filter(pk=custom.pk).exists()
    assert [e[2] for e in events("roles.delete")] == [str(custom.pk)]


def test_a_custom_role_change_is_audited_with_the_fields_it_changed(operator, account):
    role = Role.objects.create(account=account, name="viewer")
    response = operator.post(f"/admin/accounts/role/{role.pk}/change/", {
        "name": "viewer", "description": "reads commands", "account": account.pk,
        **policy_formset(total=1, rows=[{"resource": "commands", "actions": '["read"]',
                                         "access": "allow", "conditions": "{}"}])})
    assert response.status_code == 302, response.content.decode()[:3000]
    [(actor, slug, object_id, detail)] = events("roles.update")
    assert (actor, slug, object_id) == ("ops@portal.test", "acme", str(role.pk))
    assert detail["via"] == "admin"
    assert set(detail["fields"]) == {"description", "policies"}


def test_builtin_groups_keep_name_and_roles_but_members_may_change(operator, account, member):
    group = Group.objects.get(account=account, name="system-admin")
    roles_before = set(group.roles.values_list("pk", flat=True))
    response = operator.post(f"/admin/accounts/group/{group.pk}/change/", {
        "name": "renamed", "roles": [], "members": [m.pk for m in group.members.all()]
        + [member.membership.pk]})
    assert response.status_code == 302
    group.refresh_from_db()
    assert group.name == "system-admin"
    assert set(group.roles.values_list("pk", flat=True)) == roles_before
    assert group.members.filter(pk=member.membership.pk).exists()
    assert events("groups.update")[0][3]["fields"] == ["members"]
    assert operator.post(f"/admin/accounts/group/{group.pk}/delete/",
                         {"post": "yes"}).status_code == 403


def test_revoking_tokens_in_the_admin_is_audited_once_per_live_token(operator, member):
    token = ApiToken.objects.get(membership=member.membership)
    for _ in range(2):
        operator.post("/admin/accounts/apitoken/", {
            "action": "revoke", "_selected_action": [token.pk]})
    assert client_for(member.token).get("/api/v1/me").status_code == 401
    assert [e[:3] for e in events("tokens.revoke")] == [
        ("ops@portal.test", "acme", str(token.pk))]


def test_deactivating_a_membership_in_the_admin_is_audited(operator, member):
    membership = member.membership
    response = operator.post(f"/admin/accounts/membership/{membership.pk}/change/", {
        "user": membership.user_id, "account": membership.account_id, "is_active": ""})
    assert response.status_code == 302, response.content.decode()[:3000]
    assert Membership.objects.get(pk=membership.pk).is_active is False
    assert events("members.update")[0][3]["fields"] == ["is_active"]
