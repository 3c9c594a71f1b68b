"""``/api/v1.2/…`` exactly as the SDK spells it: no trailing slashes (a redirect would turn
its POSTs into GETs), ids matched loosely so a bad one is a 404 in Qubole's format."""

from django.urls import re_path

from jobs.compat.qubole import access, commands, groups

ID = r"(?P<pk>[^/]+)"
REF = r"(?P<ref>[^/]+)"

urlpatterns = [
    re_path(r"^commands$", commands.CommandsView.as_view(), name="qubole-commands"),
    re_path(rf"^commands/{ID}$", commands.CommandView.as_view(), name="qubole-command"),
    re_path(rf"^commands/{ID}/logs$", commands.LogsView.as_view(), name="qubole-logs"),
    re_path(rf"^commands/{ID}/results$", commands.ResultsView.as_view(), name="qubole-results"),
    re_path(r"^roles$", access.RolesView.as_view(), name="qubole-roles"),
    re_path(rf"^roles/{ID}$", access.RoleView.as_view(), name="qubole-role"),
    re_path(rf"^roles/{ID}/duplicate$", access.RoleDuplicateView.as_view()),
    re_path(rf"^roles/{ID}/groups$", access.RoleGroupsView.as_view()),
    re_path(r"^groups$", groups.GroupsView.as_view(), name="qubole-groups"),
    re_path(rf"^groups/{ID}$", groups.GroupView.as_view(), name="qubole-group"),
    re_path(rf"^groups/{ID}/duplicate$", groups.GroupDuplicateView.as_view()),
    re_path(rf"^groups/{ID}/qbol_users$", groups.GroupUsersView.as_view()),
    re_path(rf"^groups/{ID}/qbol_users/{REF}/add$",
            groups.GroupUserChangeView.as_view(change="add")),
    re_path(rf"^groups/{ID}/qbol_users/{REF}/remove$",
            groups.GroupUserChangeView.as_view(change="remove")),
    re_path(rf"^groups/{ID}/roles$", groups.GroupRolesView.as_view()),
    re_path(rf"^groups/{ID}/roles/{REF}/assign$",
            groups.GroupRoleChangeView.as_view(change="assign")),
    re_path(rf"^groups/{ID}/roles/{REF}/unassign$",
            groups.GroupRoleChangeView.as_view(change="unassign")),
]
