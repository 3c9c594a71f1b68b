"""Built-in system-user roles of existing accounts get the new ``schedules`` resource: read
and create any, update (pause, resume) and delete their own (new accounts get it from
accounts.policy.BUILTIN_ROLES). system-admin's ``*`` already covers it."""

from django.db import migrations

SYSTEM_USER = "system-user"
RULES = [
    ({"resource": "schedules", "actions": ["read", "create"]}, {}),
    ({"resource": "schedules", "actions": ["update", "delete"]}, {"own": True}),
]


def add_rules(apps, schema_editor):
    Policy = apps.get_model("accounts", "Policy")
    Role = apps.get_model("accounts", "Role")
    for role in Role.objects.filter(builtin=True, name=SYSTEM_USER):
        for rule, conditions in RULES:
            if not Policy.objects.filter(role=role, resource=rule["resource"],
                                         conditions=conditions).exists():
                Policy.objects.create(role=role, conditions=conditions, **rule)


def remove_rules(apps, schema_editor):
    Policy = apps.get_model("accounts", "Policy")
    Policy.objects.filter(role__builtin=True, role__name=SYSTEM_USER,
                          resource="schedules").delete()


class Migration(migrations.Migration):
    dependencies = [("accounts", "0005_system_user_deletes_own_commands")]
    operations = [migrations.RunPython(add_rules, remove_rules)]
