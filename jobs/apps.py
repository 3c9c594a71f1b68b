from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Commands and data"

    def ready(self):
        from jobs import checks  # noqa: F401  (registers the system checks)
