"""Portal API for webhook endpoints and the delivery log: thin views over
:mod:`accounts.policy`.

Endpoints are part of the account's settings: listing them needs ``account`` read (every
member has it), creating, changing, rotating and deleting them ``account`` update (account
admins). The delivery log shows where the account's data went and what answered, so it is
for those who may read the ``audit`` trail (account admins).
"""

from django.db import IntegrityError, transaction
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, generics, status
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts import audit, policy
from accounts.api.views import AccountScopedViewSet
from accounts.authentication import membership_of
from accounts.permissions import PolicyPermission
from jobportal.pagination import CursorPagination
from jobs import reads
from notifications.api.serializers import (
    DeliverySerializer,
    NewWebhookSerializer,
    WebhookSerializer,
)
from notifications.models import Delivery, WebhookEndpoint, new_secret


class ByNamePagination(CursorPagination):
    # (account, name) is unique: its index serves WHERE account = ? ORDER BY name.
    ordering = ("name", "id")
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 500


class NewestFirstPagination(CursorPagination):
    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class WebhookViewSet(AccountScopedViewSet):
    """The account's webhook endpoints. Creating one (or rotating its secret) answers the
    signing secret once."""

    model = WebhookEndpoint
    policy_resource = "account"
    policy_actions = {"create": "update", "update": "update", "partial_update": "update",
                      "destroy": "update", "rotate_secret": "update"}
    serializer_class = WebhookSerializer
    pagination_class = ByNamePagination
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return super().get_queryset().select_related("created_by")

    @extend_schema(responses={201: NewWebhookSerializer})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = _save(serializer, account=self.member.account, created_by=self.member.user)
        audit.record("webhooks.create", member=self.member, obj=endpoint, request=request)
        return Response(NewWebhookSerializer(endpoint).data, status=status.HTTP_201_CREATED)

    def perform_update(self, serializer):
        endpoint = _save(serializer)
        audit.record("webhooks.update", member=self.member, obj=endpoint, request=self.request)

    def perform_destroy(self, instance):
        audit.record("webhooks.delete", member=self.member, obj=instance, request=self.request)
        instance.delete()

    @extend_schema(request=None, responses={200: NewWebhookSerializer})
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        """A new signing secret, answered once; the old one stops signing at once."""
        endpoint = self.get_object()
        endpoint.secret = new_secret()
        endpoint.save(update_fields=["secret", "updated_at"])
        audit.record("webhooks.rotate_secret", member=self.member, obj=endpoint,
                     request=request)
        return Response(NewWebhookSerializer(endpoint).data)


def _save(serializer, **fields):
    """Save, answering a name taken meanwhile by a concurrent request as the serializer's own
    check does (400 naming ``name``)."""
    try:
        with transaction.atomic():
            return serializer.save(**fields)
    except IntegrityError as exc:
        raise exceptions.ValidationError(
            {"name": ["An endpoint of this account has this name."]}) from exc


class DeliveryList(generics.ListAPIView):
    """Deliveries newest first, for members who may read the audit trail."""

    permission_classes = [PolicyPermission]
    policy_resource = "audit"
    queryset = Delivery.objects.none()  # the model, for the OpenAPI document
    serializer_class = DeliverySerializer
    pagination_class = NewestFirstPagination

    def deliveries(self):
        return policy.restrict(Delivery.objects.select_related("endpoint"),
                               membership_of(self.request), "read", "audit")


class EndpointDeliveries(DeliveryList):
    """The deliveries to one webhook endpoint, newest first (``audit`` read)."""

    def get_queryset(self):
        pk = reads.parse_pk(self.kwargs["pk"])
        visible = policy.restrict(WebhookEndpoint.objects.all(), membership_of(self.request),
                                  "read", "account")
        if pk is None or not visible.filter(pk=pk).exists():
            raise exceptions.NotFound("No such webhook endpoint.")
        return self.deliveries().filter(endpoint_id=pk)


class CommandNotifications(DeliveryList):
    """The notifications of one command's end, newest first (``audit`` read)."""

    def get_queryset(self):
        if reads.visible_command(membership_of(self.request), self.kwargs["pk"]) is None:
            raise exceptions.NotFound("No such command.")
        return self.deliveries().filter(command_id=self.kwargs["pk"])
