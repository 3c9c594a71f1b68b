"""The accounts API: me, own tokens, and the account admin endpoints, against all four actors."""

import pytest

from accounts.models import ApiToken, AuditEvent, Group, Membership, Policy, Role, User

ADMIN_ONLY = {"admin": 200, "member": 403, "reader": 403, "outsider": 200}


def test_me_describes_user_account_and_permissions(member):
    body = member.client.get("/api/v1/me").json()
    assert body["user"]["email"] == "member@acme.test"
    assert body["account"]["slug"] == "acme"
    assert body["memberships"][0]["groups"] == ["system-user"]
    assert body["permissions"]["commands"] == ["read", "submit", "cancel", "rerun",
                                                 "delete"]
    assert body["permissions"]["roles"] == []


@pytest.mark.parametrize("who", ["admin", "member", "reader", "outsider"])
def test_everyone_sees_their_own_tokens_only(actors, who):
    actor = actors[who]
    body = actor.client.get("/api/v1/tokens/").json()
    assert [t["id"] for t in body] == list(
        ApiToken.objects.filter(membership=actor.membership).values_list("id", flat=True))
    assert all("token" not in t and "token_hash" not in t for t in body)


def test_creating_a_token_shows_the_secret_once_and_it_works(reader):
    response = reader.client.post("/api/v1/tokens/", {"name": "ci"}, format="json")
    assert response.status_code == 201
    secret = response.json()["token"]
    assert secret.startswith("jp_")
    listed = reader.client.get(f"/api/v1/tokens/{response.json()['id']}/").json()
    assert "token" not in listed
    from tests.conftest import client_for
    assert client_for(secret).get("/api/v1/me").status_code == 200
    assert AuditEvent.objects.filter(action="tokens.create", actor=reader.user).exists()


def test_revoking_a_token_stops_it(member):
    created = member.client.post("/api/v1/tokens/", {"name": "tmp"}, format="json").json()
    assert member.client.delete(f"/api/v1/tokens/{created['id']}/").status_code == 204
    from tests.conftest import client_for
    assert client_for(created["token"]).get("/api/v1/me").status_code == 401
    assert ApiToken.objects.get(pk=created["id"]).revoked_at is not None


@pytest.mark.parametrize("who", ["member", "reader", "outsider"])
def test_tokens_of_others_answer_404(actors, admin, who):
    token_id = ApiToken.objects.get(membership=admin.membership).pk
    client = actors[who].client
    assert client.get(f"/api/v1/tokens/{token_id}/").status_code == 404
    assert client.delete(f"/api/v1/tokens/{token_id}/").status_code == 404
    assert ApiToken.objects.get(pk=token_id).revoked_at is None


@pytest.mark.parametrize("endpoint", ["members", "groups", "roles"])
@pytest.mark.parametrize("who", ["admin", "member", "reader", "outsider"])
def test_admin_endpoints_list_only_for_account_admins(actors, endpoint, who):
    response = actors[who].client.get(f"/api/v1/{endpoint}/")
    assert response.status_code == ADMIN_ONLY[who]
    if response.status_code == 200:
        model = {"members": Membership, "groups": Group, "roles": Role}[endpoint]
        expected = model.objects.filter(account=actors[who].account).count()
        assert len(response.json()) == expected


@pytest.mark.parametrize("endpoint", ["members", "groups", "roles"])
@pytest.mark.parametrize(("who", "status"), [
    ("admin", 200), ("member", 403), ("reader", 403), ("outsider", 404)])
def test_admin_endpoint_detail_of_acme_objects(actors, account, endpoint, who, status):
    obj_id = {
        "members": actors["member"].membership.pk,
        "groups": Group.objects.get(account=account, name="system-user").pk,
        "roles": Role.objects.get(account=account, name="system-user").pk,
    }[endpoint]
    assert actors[who].client.get(f"/api/v1/{endpoint}/{obj_id}/").status_code == status


def test_admin_adds_a_member_by_email_into_a_group(admin, account):
    response = admin.client.post(
        "/api/v1/members/", {"email": "New@Acme.test", "groups": ["system-user"]}, format="json")
    assert response.status_code == 201, response.json()
    membership = Membership.objects.get(pk=response.json()["id"])
    assert membership.user.email == "new@acme.test"
    assert list(membership.groups.values_list("name", flat=True)) == ["system-user"]
    assert not membership.user.has_usable_password()


def test_admin_creates_a_custom_role_and_group(admin, member, account):
    role = admin.client.post("/api/v1/roles/", {
        "name": "analyst", "description": "SQL only",
        "policies": [
            {"resource": "commands", "actions": ["read", "submit"]},
            {"resource": "commands", "actions": ["submit"], "access": "deny",
             "conditions": {"command_types": ["shell"]}},
        ]}, format="json")
    assert role.status_code == 201, role.json()
    group = admin.client.post("/api/v1/groups/", {
        "name": "analysts", "roles": ["analyst"], "members": [member.membership.pk]},
        format="json")
    assert group.status_code == 201, group.json()
    assert member.client.post("/api/v1/commands/", {"command_type": "shell", "script": "true"},
                              format="json").status_code == 403


def test_builtin_roles_and_groups_cannot_be_changed_or_deleted(admin, account):
    role = Role.objects.get(account=account, name="system-admin")
    group = Group.objects.get(account=account, name="system-admin")
    patch = admin.client.patch(f"/api/v1/roles/{role.pk}/", {"description": "x"}, format="json")
    assert patch.status_code == 409
    assert patch["Content-Type"] == "application/problem+json"
    assert admin.client.delete(f"/api/v1/roles/{role.pk}/").status_code == 409
    assert admin.client.delete(f"/api/v1/groups/{group.pk}/").status_code == 409
    assert Role.objects.filter(pk=role.pk, description=role.description).exists()


def test_an_admin_cannot_remove_their_own_membership(admin):
    assert admin.client.delete(f"/api/v1/members/{admin.membership.pk}/").status_code == 409


def test_outsider_cannot_put_foreign_roles_into_its_groups(outsider, account):
    response = outsider.client.post(
        "/api/v1/groups/", {"name": "sneaky", "roles": ["system-admin"]}, format="json")
    # globex has its own system-admin role: the name resolves inside globex only.
    assert response.status_code == 201
    group = Group.objects.get(pk=response.json()["id"])
    assert group.roles.get().account_id == outsider.account.pk


BAD_WRITES = [
    ("/api/v1/tokens/", {"name": ""}, "name", ApiToken),
    ("/api/v1/tokens/", {"name": "x", "expires_at": "2001-01-01T00:00:00Z"}, "expires_at",
     ApiToken),
    ("/api/v1/members/", {"email": "not-an-email"}, "email", Membership),
    ("/api/v1/members/", {"email": "ok@acme.test", "groups": ["nope"]}, "groups", Membership),
    ("/api/v1/members/", {"email": "member@acme.test"}, "email", Membership),
    ("/api/v1/groups/", {"name": "Bad Name"}, "name", Group),
    ("/api/v1/groups/", {"name": "fine", "roles": ["missing"]}, "roles", Group),
    ("/api/v1/groups/", {"name": "system-user"}, "name", Group),
    ("/api/v1/roles/", {"name": "r", "policies": [{"resource": "nope", "actions": ["read"]}]},
     "policies", Role),
    ("/api/v1/roles/", {"name": "r", "policies": [{"resource": "commands", "actions": ["read"],
                                                   "access": "maybe"}]}, "policies", Role),
    ("/api/v1/roles/", {"name": "r"}, "policies", Role),
]


@pytest.mark.parametrize(("url", "payload", "field", "model"), BAD_WRITES)
def test_bad_input_is_a_400_naming_the_field_and_writes_nothing(
    admin, member, url, payload, field, model
):
    before = model.objects.count()
    users_before = User.objects.count()
    response = admin.client.post(url, payload, format="json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 400
    assert field in body["errors"]
    assert field in body["detail"]
    assert model.objects.count() == before
    assert User.objects.count() == users_before


def test_malformed_json_is_a_400_problem(admin):
    response = admin.client.post("/api/v1/tokens/", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["title"] == "Bad Request"


@pytest.fixture
def member_manager(account):
    """May manage members and groups, but not roles."""
    from tests.conftest import make_member

    role = Role.objects.create(account=account, name="member-manager")
    Policy.objects.create(role=role, resource="members", actions=["*"])
    Policy.objects.create(role=role, resource="groups", actions=["*"])
    return make_member(account, "hr@acme.test", roles=[role])


def test_members_rights_alone_cannot_grant_system_admin(member_manager, member):
    response = member_manager.client.patch(
        f"/api/v1/members/{member_manager.membership.pk}/",
        {"groups": ["system-admin"]}, format="json")
    assert response.status_code == 400
    assert "groups" in response.json()["errors"]
    group = Group.objects.get(account=member.account, name="system-admin")
    grant = member_manager.client.patch(
        f"/api/v1/groups/{group.pk}/",
        {"members": [member_manager.membership.pk, member.membership.pk]}, format="json")
    assert grant.status_code == 400
    assert not group.members.filter(pk=member_manager.membership.pk).exists()


def test_builtin_groups_keep_their_roles(admin, account):
    group = Group.objects.get(account=account, name="system-admin")
    response = admin.client.patch(f"/api/v1/groups/{group.pk}/", {"roles": []}, format="json")
    assert response.status_code == 400
    assert group.roles.count() == 1


def test_the_last_active_admin_cannot_be_removed_from_system_admin(admin, member, account):
    from tests.conftest import make_member

    other = make_member(account, "other-admin@acme.test", ["system-admin"])
    ok = admin.client.patch(f"/api/v1/members/{other.membership.pk}/",
                            {"is_active": False}, format="json")
    assert ok.status_code == 200
    last = admin.client.patch(f"/api/v1/members/{admin.membership.pk}/",
                              {"groups": ["system-user"]}, format="json")
    assert last.status_code == 400
    assert Group.objects.get(account=account, name="system-admin").members.filter(
        pk=admin.membership.pk).exists()


WRITES = [
    ("post", "/api/v1/groups/", {"name": "new-group"}, Group),
    ("post", "/api/v1/roles/", {"name": "new-role", "policies": [
        {"resource": "commands", "actions": ["read"]}]}, Role),
    ("post", "/api/v1/members/", {"email": "fresh@acme.test"}, Membership),
]


@pytest.mark.parametrize(("method", "url", "payload", "model"), WRITES)
@pytest.mark.parametrize(("who", "status"), [
    ("admin", 201), ("member", 403), ("reader", 403), ("outsider", 201)])
def test_access_create_on_admin_endpoints(actors, method, url, payload, model, who, status):
    actor = actors[who]
    before = model.objects.filter(account=actor.account).count()
    response = getattr(actor.client, method)(url, payload, format="json")
    assert response.status_code == status
    after = model.objects.filter(account=actor.account).count()
    assert after == before + (1 if status == 201 else 0)


@pytest.mark.parametrize("endpoint", ["groups", "roles", "members"])
@pytest.mark.parametrize(("who", "status"), [
    ("admin", 200), ("member", 403), ("reader", 403), ("outsider", 404)])
def test_access_change_and_delete_of_acme_objects(actors, account, endpoint, who, status):
    role = Role.objects.create(account=account, name="custom")
    group = Group.objects.create(account=account, name="custom")
    obj_id = {"groups": group.pk, "roles": role.pk,
              "members": actors["reader"].membership.pk}[endpoint]
    change = {"groups": {"name": "renamed"}, "roles": {"description": "changed"},
              "members": {"is_active": False}}[endpoint]
    client = actors[who].client
    patched = client.patch(f"/api/v1/{endpoint}/{obj_id}/", change, format="json")
    assert patched.status_code == status
    deleted = client.delete(f"/api/v1/{endpoint}/{obj_id}/")
    assert deleted.status_code == (204 if status == 200 else status)
    model = {"groups": Group, "roles": Role, "members": Membership}[endpoint]
    assert model.objects.filter(pk=obj_id).exists() == (status != 200)


# --- only roles grant roles ------------------------------------------------------------------


def custom_member(account, email, *rules):
    from tests.conftest import make_member

    role = Role.objects.create(account=account, name=email.split("@")[0])
    for resource, actions in rules:
        Policy.objects.create(role=role, resource=resource, actions=actions)
    return make_member(account, email, roles=[role])


def holds_everything(actor):
    from accounts.models import Membership

    fresh = Membership.objects.select_related("account").get(pk=actor.membership.pk)
    return fresh.can("update", "roles") and fresh.can("submit", "commands")


def test_group_rights_cannot_create_a_group_carrying_system_admin(account):
    climber = custom_member(account, "groups@acme.test", ("groups", ["*"]),
                            ("members", ["read"]))
    response = climber.client.post("/api/v1/groups/", {
        "name": "totally-normal", "roles": ["system-admin"],
        "members": [climber.membership.pk]}, format="json")
    assert response.status_code == 400
    assert "members" in response.json()["errors"]
    assert not Group.objects.filter(name="totally-normal").exists()
    assert not holds_everything(climber)


def test_member_rights_cannot_join_a_group_carrying_system_admin(account, admin):
    hidden = Group.objects.create(account=account, name="ops")
    hidden.roles.add(Role.objects.get(account=account, name="system-admin"))
    climber = custom_member(account, "members@acme.test", ("members", ["*"]))
    response = climber.client.patch(f"/api/v1/members/{climber.membership.pk}/",
                                    {"groups": ["ops"]}, format="json")
    assert response.status_code == 400
    assert "groups" in response.json()["errors"]
    assert not hidden.members.filter(pk=climber.membership.pk).exists()
    assert not holds_everything(climber)


def test_role_rights_cannot_widen_a_role_the_editor_holds(account):
    climber = custom_member(account, "roles@acme.test", ("roles", ["*"]))
    own = Role.objects.get(account=account, name="roles")
    response = climber.client.patch(f"/api/v1/roles/{own.pk}/", {"policies": [
        {"resource": "*", "actions": ["*"]}]}, format="json")
    assert response.status_code == 400
    assert "policies" in response.json()["errors"]
    assert not holds_everything(climber)


def test_a_role_within_the_granters_own_rights_can_be_given(account, member):
    manager = custom_member(account, "hr@acme.test", ("members", ["*"]), ("groups", ["*"]),
                            ("commands", ["read"]))
    viewer = Role.objects.create(account=account, name="view-commands")
    Policy.objects.create(role=viewer, resource="commands", actions=["read"])
    response = manager.client.post("/api/v1/groups/", {
        "name": "viewers", "roles": ["view-commands"],
        "members": [member.membership.pk]}, format="json")
    assert response.status_code == 201, response.json()


def test_an_admin_through_a_group_of_another_name_counts_as_the_accounts_admin(admin, account):
    ops = Group.objects.create(account=account, name="ops")
    ops.roles.add(Role.objects.get(account=account, name="system-admin"))
    ops.members.add(admin.membership)
    response = admin.client.patch(f"/api/v1/members/{admin.membership.pk}/",
                                  {"groups": ["system-user"]}, format="json")
    assert response.status_code == 400  # out of both: no active admin would be left
    kept = admin.client.patch(f"/api/v1/members/{admin.membership.pk}/",
                              {"groups": ["ops"]}, format="json")
    assert kept.status_code == 200  # still an admin through "ops"


# --- adding an existing user: an invitation ------------------------------------------------


@pytest.fixture
def invited(admin, outsider):
    """The outsider (a user of globex) added to acme by acme's admin."""
    response = admin.client.post("/api/v1/members/", {
        "email": "outsider@globex.test", "name": "A Guess", "groups": ["system-user"]},
        format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def test_adding_an_existing_user_makes_an_invitation_that_reveals_no_name(admin, outsider,
                                                                         invited):
    User.objects.filter(email="outsider@globex.test").update(name="Real Name")
    assert (invited["is_active"], invited["invitation_pending"], invited["name"]) == (
        False, True, "")
    listed = admin.client.get(f"/api/v1/members/{invited['id']}/").json()
    assert listed["name"] == "" and "Real Name" not in str(listed)
    assert User.objects.get(email="outsider@globex.test").name == "Real Name"


def test_the_account_cannot_activate_an_invitation_itself(admin, invited):
    response = admin.client.patch(f"/api/v1/members/{invited['id']}/", {"is_active": True},
                                  format="json")
    assert response.status_code == 400 and "is_active" in response.json()["errors"]


def test_an_invitation_gives_no_access_until_accepted(admin, outsider, invited):
    membership = Membership.objects.get(pk=invited["id"])
    _, raw = ApiToken.issue(membership, "early")
    from tests.conftest import client_for

    assert client_for(raw).get("/api/v1/commands/").status_code == 401
    assert outsider.client.get("/api/v1/me/invitations/").json() == [
        {"id": invited["id"], "account": "acme", "account_name": "Acme",
         "created_at": membership.created_at.isoformat().replace("+00:00", "Z")}]
    accepted = outsider.client.post(f"/api/v1/me/invitations/{invited['id']}/accept/")
    assert accepted.status_code == 200 and accepted.json()["account"] == "acme"
    assert client_for(raw).get("/api/v1/commands/").status_code == 200
    assert outsider.client.get("/api/v1/me/invitations/").json() == []


def test_a_declined_invitation_leaves_no_membership(outsider, invited):
    assert outsider.client.post(
        f"/api/v1/me/invitations/{invited['id']}/decline/").status_code == 204
    assert not Membership.objects.filter(pk=invited["id"]).exists()


@pytest.mark.parametrize("who", ["admin", "member", "reader"])
def test_only_the_invited_user_sees_or_answers_an_invitation(actors, invited, who):
    client = actors[who].client
    assert client.get("/api/v1/me/invitations/").json() == []
    for verb in ("accept", "decline"):
        assert client.post(f"/api/v1/me/invitations/{invited['id']}/{verb}/").status_code == 404
    assert Membership.objects.get(pk=invited["id"]).invitation_pending


def test_invitations_need_a_credential(anonymous, invited):
    assert anonymous.get("/api/v1/me/invitations/").status_code == 401


def test_listing_invitations_is_one_query_on_a_warm_process(outsider, invited, warm_process,
                                                            django_assert_num_queries):
    warm_process(outsider)
    with django_assert_num_queries(1):
        assert len(outsider.client.get("/api/v1/me/invitations/").json()) == 1


def test_a_new_user_is_added_as_an_active_member_at_once(admin):
    body = admin.client.post("/api/v1/members/", {"email": "new@acme.test", "name": "New"},
                             format="json").json()
    assert (body["is_active"], body["invitation_pending"], body["name"]) == (True, False, "New")


def test_a_group_holding_the_last_admins_cannot_be_deleted(admin, account):
    owners = admin.client.post("/api/v1/groups/", {
        "name": "owners", "roles": ["system-admin"], "members": [admin.membership.pk]},
        format="json")
    assert owners.status_code == 201, owners.content
    Group.objects.get(account=account, name="system-admin").members.remove(admin.membership)
    response = admin.client.delete(f"/api/v1/groups/{owners.json()['id']}/")
    assert response.status_code == 409
    assert "active admin" in response.json()["detail"]
