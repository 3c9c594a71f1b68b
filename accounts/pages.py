"""Account pages: sign-in (Django's auth views, see ``page_urls``), the account switcher and
the member's own API tokens. Rights come from :mod:`accounts.policy`, like the API's."""

from datetime import timedelta
from functools import wraps

from django import forms
from django.contrib.auth.views import redirect_to_login
from django.db import IntegrityError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.functional import SimpleLazyObject
from django.views.decorators.http import require_http_methods, require_POST

from accounts import audit, policy
from accounts.authentication import membership_of
from accounts.models import ApiToken, Membership
from jobportal.problems import clash_message


def member_view(view):
    """The view runs with ``request.member`` (:func:`membership_of`): an anonymous visitor is
    sent to the login page, a signed-in user with no active membership gets a 404 (there is
    nothing of any account they may see)."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        member = membership_of(request)
        if member is None:
            raise Http404("No account.")
        request.member = member
        try:
            return view(request, *args, **kwargs)
        except IntegrityError as exc:
            # Another request took the same name between the form's check and the write:
            # say so (as the API does), never a 500. The write was rolled back.
            message = clash_message(exc)
            if message is None:
                raise
            return refused(request, message, status=400)

    return wrapped


def refused(request, message, status=403):
    """A page saying why the member's role does not allow this (the object is theirs to see,
    so a 404 would be a lie)."""
    return render(request, "refused.html", {"message": message}, status=status)


def _active_memberships(user):
    return list(Membership.objects.select_related("account").filter(
        user=user, is_active=True, account__is_active=True).order_by("account__slug"))


def memberships(request):
    """Template context: the signed-in user's accounts, for the switcher (read when shown)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"my_memberships": SimpleLazyObject(lambda: _active_memberships(user))}


@require_POST
@member_view
def switch_account(request):
    """Act through another of the user's memberships from now on (kept in the session)."""
    chosen = request.POST.get("account", "")
    match = next((m for m in _active_memberships(request.user)
                  if str(m.account_id) == chosen), None)
    if match is None:
        raise Http404("Not one of your accounts.")
    request.session["account_id"] = match.account_id
    return redirect("pages:history")


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What the token is for, e.g. a script.")
    expires_in_days = forms.IntegerField(
        required=False, min_value=1, max_value=3650, label="Expires in (days)",
        help_text="Leave empty for a token that does not expire.")


def _own_tokens(member):
    return policy.restrict(ApiToken.objects.all(), member, "read", "tokens").filter(
        membership=member)


@require_http_methods(["GET", "POST"])
@member_view
def tokens(request):
    """The member's own API tokens: list, issue (the secret shown once, on this response
    only), revoke."""
    member = request.member
    if not policy.can(member, "read", "tokens"):
        return refused(request, "Your role may not manage API tokens.")
    form, issued = TokenForm(), None
    if request.method == "POST":
        if not policy.can(member, "create", "tokens"):
            return refused(request, "Your role may not create API tokens.")
        form = TokenForm(request.POST)
        if form.is_valid():
            days = form.cleaned_data["expires_in_days"]
            expires = timezone.now() + timedelta(days=days) if days else None
            token, raw = ApiToken.issue(member, form.cleaned_data["name"], expires)
            audit.record("tokens.create", member=member, obj=token, request=request)
            issued, form = {"token": token, "secret": raw}, TokenForm()
    context = {"form": form, "issued": issued, "tokens": _own_tokens(member),
               "may_create": policy.can(member, "create", "tokens")}
    response = render(request, "accounts/tokens.html", context,
                      status=400 if form.errors else 200)
    response["Cache-Control"] = "no-store"  # the page may hold a secret
    return response


@require_POST
@member_view
def revoke_token(request, pk):
    """Revoke one of the member's own tokens (others' answer 404)."""
    member = request.member
    token = _own_tokens(member).filter(pk=pk).first()
    if token is None:
        raise Http404("No such token.")
    if not policy.can(member, "delete", "tokens", obj=token):
        return refused(request, "Your role may not revoke this token.")
    if token.revoked_at is None:
        token.revoke()
        audit.record("tokens.revoke", member=member, obj=token, request=request)
    return redirect("accounts:tokens")
