"""Jobportal settings: one file, driven by environment variables with safe defaults.

With nothing set, the portal runs on SQLite under ``var/`` with a generated secret key and
DEBUG off. ``DATABASE_URL`` switches to PostgreSQL; see ``docs/configuration.md`` for every
variable.
"""

import os
import secrets
import socket
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name, default=None):
    """Read ``NAME`` or the contents of the file named by ``NAME_FILE`` (for secrets)."""
    path = os.environ.get(f"{name}_FILE")
    if path:
        return Path(path).read_text().strip()
    return os.environ.get(name, default)


def env_bool(name, default=False):
    value = env(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name, default):
    value = env(name)
    return int(value) if value not in (None, "") else default


def env_float(name, default):
    value = env(name)
    return float(value) if value not in (None, "") else default


def env_list(name, default=""):
    return [item.strip() for item in (env(name) or default).split(",") if item.strip()]


DATA_DIR = Path(env("JOBPORTAL_DATA_DIR", BASE_DIR / "var"))
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key():
    """The configured key, or a dev key generated once and kept in DATA_DIR (never in git)."""
    configured = env("DJANGO_SECRET_KEY")
    if configured:
        return configured
    key_file = DATA_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("DJANGO_DEBUG")
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_tasks_db",
    "django_htmx",
    "accounts",
    "jobs",
    "notifications",
]

# Three browser-side ones (the signed-in user, messages, htmx) are Django's own classes that
# pass token API requests straight on (jobportal/browser_middleware.py).
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "jobportal.browser_middleware.AuthenticationMiddleware",
    "accounts.middleware.MembershipMiddleware",
    "jobportal.browser_middleware.MessageMiddleware",
    "jobportal.browser_middleware.HtmxMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "jobportal.middleware.RateLimitHeadersMiddleware",
]

ROOT_URLCONF = "jobportal.urls"
WSGI_APPLICATION = "jobportal.wsgi.application"
ASGI_APPLICATION = "jobportal.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.pages.memberships",
            ],
        },
    },
]

# Database: SQLite by default, DATABASE_URL for anything else. Connections persist: a new
# connection per request or per task costs several times the throughput (ENGINE-NOTES).
DATABASE_URL = env("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'jobportal.sqlite3'}"
CONN_MAX_AGE = env_int("DJANGO_CONN_MAX_AGE", 60)
# A reused connection is checked (one cheap round trip) before its first query of a request,
# so a database restart costs one failed check instead of failed requests (docs/benchmarks.md).
CONN_HEALTH_CHECKS = env_bool("DJANGO_CONN_HEALTH_CHECKS", True)
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL, conn_max_age=CONN_MAX_AGE, conn_health_checks=CONN_HEALTH_CHECKS
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A web server and a worker write at once: WAL, IMMEDIATE transactions and a busy timeout
    # keep writers from failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # Tests start worker processes that must see the test database, so it lives in a file.
    worker_suffix = os.environ.get("PYTEST_XDIST_WORKER", "main")
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / f"test-{worker_suffix}.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# The HTML pages (docs/pages.md); the admin keeps its own login at /admin/login/.
LOGIN_URL = "/accounts/login/"
# Mail (invitations: accounts/invitations.py). Without EMAIL_HOST nothing is mailed and the
# one-time links are shown to whoever adds the member instead.
MAILERS = {"default": {
    "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
    "OPTIONS": {"host": env("EMAIL_HOST", ""), "port": env_int("EMAIL_PORT", 25),
                "username": env("EMAIL_HOST_USER", ""),
                "password": env("EMAIL_HOST_PASSWORD", ""),
                "use_tls": env_bool("EMAIL_USE_TLS", False)},
}}
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "jobportal@localhost")
PASSWORD_RESET_TIMEOUT = env_int("JOBPORTAL_INVITATION_SECONDS", 3 * 24 * 3600)
LOGIN_REDIRECT_URL = "/commands/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env("DJANGO_STATIC_ROOT", BASE_DIR / "staticfiles"))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
MEDIA_ROOT = Path(env("DJANGO_MEDIA_ROOT", DATA_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = DEBUG

# Security: secure by default once DEBUG is off and the site is served over HTTPS.
SECURE_HTTPS = env_bool("JOBPORTAL_HTTPS")
SESSION_COOKIE_SECURE = SECURE_HTTPS
CSRF_COOKIE_SECURE = SECURE_HTTPS
SECURE_SSL_REDIRECT = SECURE_HTTPS and env_bool("JOBPORTAL_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = env_int("JOBPORTAL_HSTS_SECONDS", 31536000 if SECURE_HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HTTPS
SECURE_HSTS_PRELOAD = SECURE_HTTPS
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("JOBPORTAL_BEHIND_PROXY") else None
)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# Cache: shared across web processes for rate limits (database or Redis in production).
CACHE_URL = env("JOBPORTAL_CACHE_URL", "")
if CACHE_URL.startswith("redis"):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                          "LOCATION": CACHE_URL}}
elif CACHE_URL == "locmem":
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache",
                          "LOCATION": "jobportal_cache"}}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.TokenAuthentication",
        "accounts.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["accounts.permissions.IsMember"],
    "DEFAULT_THROTTLE_CLASSES": ["accounts.throttling.AccountRateThrottle"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    # DRF's parsers plus the refusals of hostile bodies (nesting, NUL, size): see parsers.py.
    "DEFAULT_PARSER_CLASSES": [
        "jobportal.parsers.JSONParser",
        "jobportal.parsers.FormParser",
        "jobportal.parsers.MultiPartParser",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "jobportal.problems.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append(
        "rest_framework.renderers.BrowsableAPIRenderer"
    )

SPECTACULAR_SETTINGS = {
    "TITLE": "Jobportal API",
    "DESCRIPTION": "Submit shell and SQL commands and follow their status, logs and results.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums",
                             "jobportal.schema.add_problem_responses"],
}

# Task engine: django.tasks with the database backend by default; JOBPORTAL_TASK_BACKEND=celery
# hands "run command N" to Celery instead (see docs/scale-out-celery.md).
TASK_ENGINE = env("JOBPORTAL_TASK_BACKEND", "database")
if TASK_ENGINE == "celery":
    # Without CELERY_APP, django-tasks-celery 0.1.1 sends through Celery's default app, which
    # never reads the CELERY_* settings below (it would use amqp://localhost and queue "celery").
    TASKS = {"default": {"BACKEND": "django_tasks_celery.CeleryBackend", "QUEUES": [],
                         "OPTIONS": {"CELERY_APP": "jobportal.celery.app"}}}
    CELERY_BROKER_URL = env("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
    # The backend sends Django's "default" queue to Celery's default queue and every other
    # label to the queue of that name: so label "default" is queue "default" too.
    CELERY_TASK_DEFAULT_QUEUE = "default"
    CELERY_IMPORTS = ["jobs.worker.tasks"]  # registers run_command in the worker (ENGINE-NOTES)
    # A message is acknowledged after its task ran and each pool process reserves one at a
    # time; a second delivery is harmless because the claim is conditional (queued -> running).
    # Off is safe too (the reaper re-sends queued commands nobody claimed within
    # REQUEUE_AFTER_SECONDS): for RabbitMQ whose consumer_timeout is below the longest command.
    CELERY_TASK_ACKS_LATE = env_bool("JOBPORTAL_CELERY_ACKS_LATE", True)
    CELERY_WORKER_PREFETCH_MULTIPLIER = 1
    # Losing the broker connection must not kill running commands (their row decides).
    CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
    CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
    # Status and outcome live on the Command row: no result backend.
    CELERY_TASK_IGNORE_RESULT = True
    SILENCED_SYSTEM_CHECKS = ["django_tasks_celery.W001", "django_tasks_celery.W002"]
    # Celery's Django fix-up closes every connection around every task unless this is set
    # (150-171 vs 64-71 tasks/s in ENGINE-NOTES); CONN_MAX_AGE still retires them, because
    # jobportal/celery.py calls close_old_connections() before each task.
    CELERY_DB_REUSE_MAX = 1000
else:
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": []}}



def _sandbox_mode(value):
    mode = value.strip().lower()
    if mode in {"bubblewrap", "bwrap", "on", "1", "true", "yes"}:
        return "bubblewrap"
    if mode in {"off", "0", "false", "no"}:
        return "off"
    raise ImproperlyConfigured(f"JOBPORTAL_SANDBOX must be 'bubblewrap' or 'off', not {value!r}")


# Execution: what the worker supervisor enforces around every command.
JOBPORTAL = {
    "NODE_ID": env("JOBPORTAL_NODE_ID", socket.gethostname()),
    "WORK_ROOT": Path(env("JOBPORTAL_WORK_ROOT", DATA_DIR / "work")),
    "SHELL": env("JOBPORTAL_SHELL", "/bin/bash"),
    "SHELL_PATH": env("JOBPORTAL_SHELL_PATH", os.environ.get("PATH", os.defpath)),
    # Shell commands run in a bubblewrap sandbox (docs/commands.md#isolation); "off" runs them
    # unsandboxed, as the worker's own user, and every surface says so.
    "SANDBOX": _sandbox_mode(env("JOBPORTAL_SANDBOX", "bubblewrap")),
    "BWRAP": env("JOBPORTAL_BWRAP", "bwrap"),
    # Labels whose commands share the host's network ("*": all). The others get a network
    # namespace of their own, loopback only: no PostgreSQL, Redis or metadata service of the
    # host (databases on localhost with trust authentication are the portal's own).
    "SANDBOX_NETWORK_LABELS": env_list("JOBPORTAL_SANDBOX_NETWORK_LABELS"),
    # Extra host paths (tools, data) visible read-only inside the sandbox at the same path.
    "SANDBOX_READ_ONLY_PATHS": env_list("JOBPORTAL_SANDBOX_READ_ONLY_PATHS"),
    # Run shell commands as this OS user (the worker must run as root to switch). Empty: the
    # worker's own user, or "nobody" for a root worker with the sandbox on.
    "RUN_AS_USER": env("JOBPORTAL_RUN_AS_USER", ""),
    "ALLOWED_WORKING_DIRS": env_list("JOBPORTAL_ALLOWED_WORKING_DIRS"),
    # When set, the only labels (worker queues) commands may name; empty accepts any.
    "LABELS": env_list("JOBPORTAL_LABELS"),
    "KEEP_WORKDIRS": env_bool("JOBPORTAL_KEEP_WORKDIRS"),
    "LIMIT_CPU_SECONDS": env_int("JOBPORTAL_LIMIT_CPU_SECONDS", 3600),
    "LIMIT_MEMORY_BYTES": env_int("JOBPORTAL_LIMIT_MEMORY_BYTES", 4 * 1024**3),
    "LIMIT_FILE_SIZE_BYTES": env_int("JOBPORTAL_LIMIT_FILE_SIZE_BYTES", 1024**3),
    "LIMIT_OPEN_FILES": env_int("JOBPORTAL_LIMIT_OPEN_FILES", 1024),
    # RLIMIT_NPROC: counted by the kernel over all processes of the run-as user's uid.
    "LIMIT_PROCESSES": env_int("JOBPORTAL_LIMIT_PROCESSES", 256),
    "MAX_LOG_BYTES": env_int("JOBPORTAL_MAX_LOG_BYTES", 64 * 1024**2),
    "LOG_FLUSH_SECONDS": env_float("JOBPORTAL_LOG_FLUSH_SECONDS", 0.5),
    "HEARTBEAT_SECONDS": env_float("JOBPORTAL_HEARTBEAT_SECONDS", 3),
    "HEARTBEAT_TIMEOUT_SECONDS": env_float("JOBPORTAL_HEARTBEAT_TIMEOUT_SECONDS", 30),
    "REAP_SECONDS": env_float("JOBPORTAL_REAP_SECONDS", 5),
    # Schedules (docs/schedules.md): a slot later than this is "missed" (catch-up policy),
    # and the most runs one schedule makes in one tick (the rest follow in the next ticks).
    "SCHEDULE_GRACE_SECONDS": env_float("JOBPORTAL_SCHEDULE_GRACE_SECONDS", 60),
    "SCHEDULE_MAX_RUNS_PER_TICK": env_int("JOBPORTAL_SCHEDULE_MAX_RUNS_PER_TICK", 20),
    "REQUEUE_AFTER_SECONDS": env_float("JOBPORTAL_REQUEUE_AFTER_SECONDS", 300),
    "KILL_GRACE_SECONDS": env_float("JOBPORTAL_KILL_GRACE_SECONDS", 5),
    "DEFAULT_TIMEOUT_SECONDS": env_int("JOBPORTAL_DEFAULT_TIMEOUT_SECONDS", 3600),
    "MAX_TIMEOUT_SECONDS": env_int("JOBPORTAL_MAX_TIMEOUT_SECONDS", 7 * 86400),
    "WORKER_POLL_SECONDS": env_float("JOBPORTAL_WORKER_POLL_SECONDS", 0.05),
    # Open event streams per account in one web process (429 past it).
    "MAX_STREAMS_PER_ACCOUNT": env_int("JOBPORTAL_MAX_STREAMS_PER_ACCOUNT", 20),
    "MAX_RESULT_ROWS": env_int("JOBPORTAL_MAX_RESULT_ROWS", 1_000_000),
    "MAX_RESULT_BYTES": env_int("JOBPORTAL_MAX_RESULT_BYTES", 256 * 1024**2),
    "RESULT_CHUNK_ROWS": env_int("JOBPORTAL_RESULT_CHUNK_ROWS", 1000),
    "MAX_DATASET_BYTES": env_int("JOBPORTAL_MAX_DATASET_BYTES", 512 * 1024**2),
    # Working-directory packages (Ray's working_dir upload, jobs.packages): the archive, what
    # it unpacks to, and its entries; unused packages go after the account's retention.
    "MAX_PACKAGE_BYTES": env_int("JOBPORTAL_MAX_PACKAGE_BYTES", 100 * 1024**2),
    "MAX_PACKAGE_UNPACKED_BYTES": env_int("JOBPORTAL_MAX_PACKAGE_UNPACKED_BYTES", 1024**3),
    "MAX_PACKAGE_FILES": env_int("JOBPORTAL_MAX_PACKAGE_FILES", 10_000),
    # The Ray shape's GET /api/jobs/{id}/logs answers at most this many bytes: the log's end.
    "RAY_LOG_BYTES": env_int("JOBPORTAL_RAY_LOG_BYTES", 1024**2),
    # How long a web process trusts what it read about a token and its member's rights: the
    # bound on how late a revoked token or a removed role stops working (accounts.access).
    "ACCESS_CACHE_SECONDS": env_float("JOBPORTAL_ACCESS_CACHE_SECONDS", 5),
    # Rate-limit counting: each web process adds its requests to the shared counter every
    # RATE_FLUSH_REQUESTS requests or RATE_FLUSH_SECONDS, whichever comes first, and on every
    # request once within RATE_FLUSH_REQUESTS of the limit (accounts.throttling).
    "RATE_FLUSH_REQUESTS": env_int("JOBPORTAL_RATE_FLUSH_REQUESTS", 20),
    "RATE_FLUSH_SECONDS": env_float("JOBPORTAL_RATE_FLUSH_SECONDS", 1),
    # SQLite/DuckDB data source files of an account must lie in <DATA_SOURCE_ROOT>/<slug>/
    # (jobs.targets); the operator puts them there, on every worker machine.
    "DATA_SOURCE_ROOT": Path(env("JOBPORTAL_DATA_SOURCE_ROOT", DATA_DIR / "data-sources")),
    # When set, the only hosts PostgreSQL data sources may name; empty allows any.
    "POSTGRES_HOSTS": env_list("JOBPORTAL_POSTGRES_HOSTS"),
    # Access-Control-Allow-Origin of the compatibility shapes called from browsers
    # (Supermetrics, the analytics toolkit): "*" as the Supermetrics API answers, or one origin.
    "CORS_ALLOW_ORIGIN": env("JOBPORTAL_CORS_ALLOW_ORIGIN", "*"),
    # The longest a synchronous start (Supermetrics sync_timeout, the toolkit's sync mode)
    # holds its request open waiting for the command to end; then the caller polls.
    "MAX_SYNC_WAIT_SECONDS": env_int("JOBPORTAL_MAX_SYNC_WAIT_SECONDS", 60),
}
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024**2
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024**2

# Notifications when a command ends (notifications/, docs/notifications.md): webhooks and
# e-mail, sent by a thread of every worker process.
NOTIFICATIONS = {
    # The portal's address as users reach it ("https://jobs.example.com"): links in
    # notifications, and webhook URLs may not point at it. Empty: no links.
    "PUBLIC_URL": env("JOBPORTAL_PUBLIC_URL", "").rstrip("/"),
    # Webhook URLs may not resolve to loopback, private, link-local or reserved addresses
    # (SSRF) unless this is on, or the host or its network is listed in ALLOWED_NETWORKS.
    "WEBHOOK_ALLOW_PRIVATE": env_bool("JOBPORTAL_WEBHOOK_ALLOW_PRIVATE"),
    "WEBHOOK_ALLOWED_NETWORKS": env_list("JOBPORTAL_WEBHOOK_ALLOWED_NETWORKS"),
    # When set, the only host names webhook URLs may use ("hooks.example.com", ".example.com"
    # for a domain and its subdomains); empty allows any public host.
    "WEBHOOK_HOSTS": env_list("JOBPORTAL_WEBHOOK_HOSTS"),
    "TIMEOUT_SECONDS": env_float("JOBPORTAL_NOTIFY_TIMEOUT_SECONDS", 5),
    # Attempts per delivery, and the wait before the n-th retry: RETRY_SECONDS * 2**(n-1),
    # at most RETRY_MAX_SECONDS.
    "MAX_ATTEMPTS": env_int("JOBPORTAL_NOTIFY_MAX_ATTEMPTS", 8),
    "RETRY_SECONDS": env_float("JOBPORTAL_NOTIFY_RETRY_SECONDS", 30),
    "RETRY_MAX_SECONDS": env_float("JOBPORTAL_NOTIFY_RETRY_MAX_SECONDS", 3600),
    # How often an idle sender looks for due deliveries, and how many it takes at once.
    "POLL_SECONDS": env_float("JOBPORTAL_NOTIFY_POLL_SECONDS", 2),
    "BATCH": env_int("JOBPORTAL_NOTIFY_BATCH", 20),
    "SENDER_THREADS": env_int("JOBPORTAL_NOTIFY_SENDER_THREADS", 4),
    # prune removes delivery log rows older than this.
    "RETENTION_DAYS": env_int("JOBPORTAL_NOTIFY_RETENTION_DAYS", 30),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("JOBPORTAL_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
