from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and access"

    def ready(self):
        from accounts import (
            schema,  # noqa: F401  (registers the OpenAPI auth extensions)
            signals,  # noqa: F401  (access changes bump access_version)
        )
