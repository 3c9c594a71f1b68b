"""Portal REST API for what SQL commands run against: data sources, datasets, saved queries.

Thin views over :mod:`accounts.policy` (through ``AccountScopedViewSet``: other accounts'
objects answer 404), :mod:`jobs.datasets` and the command submission of :mod:`jobs.api.views`.
"""

from django.conf import settings
from django.http import QueryDict
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, status
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts import audit
from accounts.api.views import AccountScopedViewSet
from jobportal import parsers
from jobportal.pagination import CursorPagination
from jobportal.problems import Conflict
from jobs import datasets
from jobs.api.data_serializers import (
    DatasetSerializer,
    DatasetUploadSerializer,
    DataSourceSerializer,
    SavedQuerySerializer,
)
from jobs.api.filters import ByNameFilter
from jobs.api.serializers import CommandDetailSerializer, SubmitSerializer
from jobs.api.views import submit_request
from jobs.models import Command, CommandType, Dataset, DataSource, SavedQuery


class ByNamePagination(CursorPagination):
    # Names are unique per account; (account, name) indexes serve WHERE account = ? ORDER BY name.
    ordering = ("name", "id")
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 500


class DataScopedViewSet(AccountScopedViewSet):
    """AccountScopedViewSet that also records who created the object."""

    pagination_class = ByNamePagination
    filterset_class = ByNameFilter
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return super().get_queryset().select_related("created_by")

    def perform_create(self, serializer):
        obj = serializer.save(account=self.member.account, created_by=self.member.user)
        audit.record(f"{self.policy_resource}.create", member=self.member, obj=obj,
                     request=self.request)


class DataSourceViewSet(DataScopedViewSet):
    """Where SQL commands run (read-only). ``target`` is write-only. The built-in ``default``
    source (DuckDB over the account's datasets) cannot be changed or deleted."""

    model = DataSource
    policy_resource = "data_sources"
    serializer_class = DataSourceSerializer

    def list(self, request, *args, **kwargs):
        DataSource.objects.default_for(self.member.account)
        return super().list(request, *args, **kwargs)

    def perform_destroy(self, instance):
        if instance.is_default:
            raise Conflict("The built-in data source cannot be deleted.")
        users = list(instance.saved_queries.values_list("name", flat=True)[:5])
        if users:
            raise Conflict(f"Saved queries use this data source: {', '.join(users)}.")
        # A queued command would otherwise run on the built-in source instead.
        if Command.objects.active().filter(data_source=instance).exists():
            raise Conflict("Commands that are waiting, queued or running use this data source.")
        super().perform_destroy(instance)


class DatasetViewSet(DataScopedViewSet):
    """Uploaded CSV/Parquet files, queryable by name from the built-in data source. Upload with
    multipart ``name`` + ``file``; only name and description can change afterwards."""

    model = Dataset
    policy_resource = "datasets"
    parser_classes = [parsers.MultiPartParser, parsers.FormParser, parsers.JSONParser]
    # Room for the form fields and the multipart framing around the largest file.
    UPLOAD_OVERHEAD_BYTES = 1024**2

    def body_limit(self):
        """The largest multipart body (jobportal.parsers): a file up to the dataset limit."""
        limit = settings.JOBPORTAL["MAX_DATASET_BYTES"] + self.UPLOAD_OVERHEAD_BYTES
        return limit, "JOBPORTAL_MAX_DATASET_BYTES + 1 MiB"

    def get_serializer_class(self):
        return DatasetUploadSerializer if self.action == "create" else DatasetSerializer

    @extend_schema(request={"multipart/form-data": DatasetUploadSerializer},
                   responses={201: DatasetSerializer})
    def create(self, request, *args, **kwargs):
        """Upload a dataset: 400 (and nothing registered) if the file is not readable, is
        empty or is larger than the limit."""
        serializer = DatasetUploadSerializer(data=request.data,
                                             context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            dataset = datasets.register(
                account=self.member.account, user=self.member.user, name=data["name"],
                upload=data["file"], file_format=data.get("format"),
                description=data.get("description", ""))
        except datasets.DatasetError as exc:
            raise exceptions.ValidationError({exc.field: [exc.message]}) from exc
        audit.record("datasets.create", member=self.member, obj=dataset, request=request)
        return Response(DatasetSerializer(dataset).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        audit.record("datasets.delete", member=self.member, obj=instance, request=self.request)
        datasets.delete(instance)


class SavedQueryViewSet(DataScopedViewSet):
    """SQL with typed parameters, versioned on every edit; ``run`` submits it as a command."""

    model = SavedQuery
    policy_resource = "saved_queries"
    policy_actions = {"run": "run"}
    serializer_class = SavedQuerySerializer

    def get_queryset(self):
        return super().get_queryset().select_related("updated_by", "data_source")

    @extend_schema(request=SubmitSerializer, responses={201: CommandDetailSerializer,
                                                        200: CommandDetailSerializer})
    @action(detail=True, methods=["post"])
    def run(self, request, pk=None):
        """Submit this saved query as a SQL command. Body: ``parameters`` (checked against the
        query's schema), optional ``data_source``, ``name``, ``timeout``, ``submission_id``…"""
        saved = self.get_object()
        if isinstance(request.data, QueryDict):
            body = request.data.dict()
        elif isinstance(request.data, dict):
            body = dict(request.data)
        else:
            raise exceptions.ValidationError({"non_field_errors": ["Send a JSON object."]})
        body.update(command_type=CommandType.SQL, saved_query=saved.pk)
        return submit_request(request, body, "saved_queries.run", saved_query=saved.pk,
                              version=saved.version)
