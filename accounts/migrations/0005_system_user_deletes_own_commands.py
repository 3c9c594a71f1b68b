"""Built-in system-user roles of existing accounts get the new ``delete`` action on their own
commands (new accounts get it from accounts.policy.BUILTIN_ROLES)."""

from django.db import migrations

SYSTEM_USER = "system-user"


def add_delete(apps, schema_editor):
    Policy = apps.get_model("accounts", "Policy")
    rules = Policy.objects.filter(role__builtin=True, role__name=SYSTEM_USER,
                                  resource="commands", conditions={"own": True})
    for rule in rules:
        if "delete" not in rule.actions:
            rule.actions = [*rule.actions, "delete"]
            rule.save(update_fields=["actions"])


def remove_delete(apps, schema_editor):
    Policy = apps.get_model("accounts", "Policy")
    rules = Policy.objects.filter(role__builtin=True, role__name=SYSTEM_USER,
                                  resource="commands", conditions={"own": True})
    for rule in rules:
        if "delete" in rule.actions:
            rule.actions = [a for a in rule.actions if a != "delete"]
            rule.save(update_fields=["actions"])


class Migration(migrations.Migration):
    dependencies = [("accounts", "0004_membership_invitation")]
    operations = [migrations.RunPython(add_delete, remove_delete)]
