"""Changes of access bump the account's ``access_version`` (see :mod:`accounts.access`).

Signals rather than explicit calls, because access changes through many doors (the API, the
admin's generic forms, management commands, ``group.members.add``) and missing one would let
a cached right outlive its removal. Bulk ``QuerySet.update()`` sends no signal: code that
changes access that way calls :func:`accounts.access.bump` itself (``ApiToken.revoke``).
"""

from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver

from accounts import access
from accounts.models import Account, ApiToken, Group, Membership, Policy, Role, User


def _account_of(instance):
    if isinstance(instance, Account):
        return instance.pk
    if isinstance(instance, Policy):
        return instance.role.account_id
    if isinstance(instance, ApiToken):
        return instance.membership.account_id
    return instance.account_id


@receiver(post_save, sender=Account)
@receiver(post_save, sender=Role)
@receiver(post_save, sender=Policy)
@receiver(post_save, sender=Group)
@receiver(post_save, sender=Membership)
@receiver(post_save, sender=ApiToken)
def _saved(sender, instance, created, update_fields=None, **kwargs):
    if created and sender in (Account, ApiToken, Role, Group):
        return  # a new account, token, role or group changes nobody's rights yet
    if sender is ApiToken and update_fields and set(update_fields) <= {"last_used_at"}:
        return
    access.bump([_account_of(instance)])


@receiver(post_delete, sender=Role)
@receiver(post_delete, sender=Policy)
@receiver(post_delete, sender=Group)
@receiver(post_delete, sender=Membership)
@receiver(post_delete, sender=ApiToken)
def _deleted(sender, instance, **kwargs):
    access.bump([_account_of(instance)])


@receiver(m2m_changed, sender=Group.members.through)
@receiver(m2m_changed, sender=Group.roles.through)
def _group_changed(sender, instance, action, **kwargs):
    # ``instance`` is the group, or the membership / role on the reverse side: all have one.
    if action.startswith("post_"):
        access.bump([instance.account_id])


@receiver(post_save, sender=User)
def _user_saved(sender, instance, created, update_fields=None, **kwargs):
    if created or (update_fields and set(update_fields) <= {"last_login"}):
        return
    access.bump(Membership.objects.filter(user=instance).values_list("account_id", flat=True))
