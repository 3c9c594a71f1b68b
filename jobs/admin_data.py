"""Admin for data sources, datasets, saved queries and working-directory packages (imported by
``jobs.admin``).

A data source's target (a path or a DSN with its password) is never rendered back: the form
field is a password input that does not show its value, and leaving it blank keeps the stored
one. Datasets are uploaded through the API (which inspects the file); here they are read-only
apart from name and description.
"""

from django import forms
from django.contrib import admin

from jobs.models import Dataset, DataSource, Package, SavedQuery
from jobs.parameters import ParameterError, check_schema


class DataSourceForm(forms.ModelForm):
    target = forms.CharField(
        required=False, strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off",
                                                                "size": 80}),
        help_text="SQLite/DuckDB: absolute file path on the workers; PostgreSQL: DSN. "
                  "Never shown again; leave blank to keep the current one.",
    )

    class Meta:
        model = DataSource
        fields = ["account", "name", "description", "engine", "target"]

    def clean_target(self):
        value = self.cleaned_data.get("target")
        if not value and self.instance.pk:
            return self.instance.target  # blank means "keep": the old value is never sent
        return value

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk and self.instance.is_default:
            raise forms.ValidationError("The built-in data source cannot be changed.")
        return cleaned


@admin.register(DataSource)
class DataSourceAdmin(admin.ModelAdmin):
    form = DataSourceForm
    list_display = ["name", "account", "engine", "is_default", "created_at"]
    list_filter = ["engine", "is_default"]
    search_fields = ["name", "account__slug"]
    list_select_related = ["account"]
    raw_id_fields = ["account"]
    readonly_fields = ["is_default", "created_by", "created_at", "updated_at"]

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        if obj is not None and not self.has_change_permission(request, obj):
            # View-only staff would get every field rendered read-only with its raw value,
            # the DSN and its password included.
            fields = [name for name in fields if name != "target"]
        return fields

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.is_default:
            return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ["name", "account", "format", "row_count", "size", "created_at"]
    list_filter = ["format"]
    search_fields = ["name", "account__slug"]
    list_select_related = ["account"]
    fields = ["account", "name", "description", "format", "columns", "row_count", "size",
              "stored_as", "created_by", "created_at", "updated_at"]
    readonly_fields = ["account", "format", "columns", "row_count", "size", "stored_as",
                       "created_by", "created_at", "updated_at"]

    @admin.display(description="Stored as")
    def stored_as(self, obj):
        return obj.file.name  # storage name only: media is not served over HTTP

    def has_add_permission(self, request):
        return False  # uploads go through the API, which reads and checks the file

    def delete_model(self, request, obj):
        from jobs import datasets

        datasets.delete(obj)

    def delete_queryset(self, request, queryset):
        from jobs import datasets

        for obj in queryset:
            datasets.delete(obj)


class SavedQueryForm(forms.ModelForm):
    class Meta:
        model = SavedQuery
        fields = ["account", "name", "description", "sql", "data_source", "parameters"]

    def clean(self):
        cleaned = super().clean()
        try:
            cleaned["parameters"] = check_schema(cleaned.get("parameters") or [],
                                                 cleaned.get("sql") or "")
        except ParameterError as exc:
            raise forms.ValidationError(
                {"parameters": [f"{name}: {message}" for name, message in exc.errors.items()]}
            ) from exc
        return cleaned


@admin.register(SavedQuery)
class SavedQueryAdmin(admin.ModelAdmin):
    form = SavedQueryForm
    list_display = ["name", "account", "version", "data_source", "updated_at"]
    search_fields = ["name", "account__slug"]
    list_select_related = ["account", "data_source"]
    raw_id_fields = ["account", "data_source"]
    readonly_fields = ["version", "created_by", "updated_by", "created_at", "updated_at"]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
            super().save_model(request, obj, form, change)
        else:
            changes = {name: form.cleaned_data[name] for name in form.changed_data}
            obj.edit(request.user, **changes)


@admin.register(Package)
class PackageAdmin(admin.ModelAdmin):
    """Uploaded through the Ray shape (checked there) and read-only here; deleting one removes
    its stored file too (a command still naming it then fails RUNTIME_ENV_SETUP_FAILURE)."""

    list_display = ["uri", "account", "file_count", "size", "last_used_at"]
    search_fields = ["uri", "account__slug"]
    list_select_related = ["account"]
    readonly_fields = ["account", "uri", "sha256", "size", "unpacked_size", "file_count",
                       "file", "created_by", "created_at", "last_used_at"]
    fields = readonly_fields

    def has_add_permission(self, request):
        return False

    def delete_model(self, request, obj):
        obj.delete()
        obj.file.delete(save=False)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)
