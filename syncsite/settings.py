"""Syncsite settings: everything that differs between machines comes from environment variables.

See README.md for the variables; syncsite/config.py for how they are read.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from syncsite.config import database_config, env_bool, env_int, env_list, q_cluster, secret_key

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("SYNCSITE_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)

SECRET_KEY = secret_key(VAR_DIR)
# A dedicated key for encrypted model fields, so rotating SECRET_KEY (sessions) keeps stored secrets readable.
FIELD_ENCRYPTION_KEY = os.environ.get("FIELD_ENCRYPTION_KEY", "")
# Previous field-encryption keys, still read during a rotation (manage.py rotate_encryption_key), then removed.
FIELD_ENCRYPTION_OLD_KEYS = env_list("FIELD_ENCRYPTION_OLD_KEYS", [])
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "syncsite.apps.SyncsiteAdminConfig",  # django.contrib.admin, with optional two-factor sign-in
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI / ReDoc assets, served locally (the API docs work offline)
    "syncsite",  # before django_q: its qcluster command (a bounded stop) replaces django-q2's
    "django_q",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "hosts",
    "tracker",
    "syncthing_bridge",
    "synctools",
    "notifications",
    "auditlog",
]

MIDDLEWARE = [
    "syncsite.metrics.RequestMetricsMiddleware",  # first: counts every answer, also the ones middleware gives
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "auditlog.middleware.AuditlogMiddleware",  # the audit log records who made a change
    "axes.middleware.AxesMiddleware",  # last: turns a locked-out sign-in into the lockout answer
]

ROOT_URLCONF = "syncsite.urls"
WSGI_APPLICATION = "syncsite.wsgi.application"
ASGI_APPLICATION = "syncsite.asgi.application"

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
            ],
        },
    },
]

DATABASES = {"default": database_config(os.environ.get("DATABASE_URL"), VAR_DIR)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Sign-in (admin, /accounts/login/, the tracker's signIn): failures are counted in the database per
# (user name, client address), so an attacker cannot lock a user out from another address (django-axes).
AUTHENTICATION_BACKENDS = [
    "syncsite.security.LoginThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "syncsite.security.lockout_response"
AXES_CLIENT_IP_CALLABLE = "syncsite.security.client_ip"
AXES_VERBOSE = False
# Reverse proxies in front of Syncsite that append the client address to X-Forwarded-For (0: none).
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
# Admin two-factor sign-in (TOTP, django-otp): staff who add a TOTP device are asked for a code; with
# ADMIN_REQUIRE_2FA every staff user is (enrol devices first: users without one can no longer sign in).
ADMIN_REQUIRE_2FA = env_bool("ADMIN_REQUIRE_2FA", False)
OTP_TOTP_ISSUER = os.environ.get("OTP_TOTP_ISSUER", "Syncsite")

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "static"))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = os.environ.get("MEDIA_URL", "/media/")
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Security: strict by default; TLS itself is terminated by the reverse proxy in front of Syncsite.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG and env_bool("HTTPS", False))
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
if env_bool("USE_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "syncsite.auth.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
        "rest_framework.filters.SearchFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "syncsite.rest.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "syncsite.rest.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Syncsite API",
    "DESCRIPTION": "Hosts inventory, file tracker, Syncthing bridge and site-to-site replication.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

REDIS_URL = os.environ.get("REDIS_URL", "")
Q_CLUSTER = q_cluster(
    REDIS_URL,
    workers=env_int("Q_WORKERS", 2),
    timeout=env_int("Q_TIMEOUT", 3600),
    retry=env_int("Q_RETRY", 0) or None,
    max_attempts=env_int("Q_MAX_ATTEMPTS", 3),
    save_limit=env_int("Q_SAVE_LIMIT", 1000),
    sync=env_bool("Q_SYNC", False),
)
# On SIGTERM/SIGINT busy workers get Q_STOP_GRACE seconds, then their task is interrupted (the broker delivers
# it again after Q_CLUSTER["retry"]); the cluster has exited after Q_STOP_TIMEOUT seconds at the latest.
Q_STOP_GRACE = env_int("Q_STOP_GRACE", 10)
Q_STOP_TIMEOUT = env_int("Q_STOP_TIMEOUT", 25)

# Where a schedule's "func" may point: the cronjob registry (hosts) lists the ones offered in the admin.
SYNCSITE_PLUGINS = env_list("SYNCSITE_PLUGINS", [])

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

# --- synctools: site-to-site replication (see docs/synctools.md) ---------------------------------
# SYNCTOOL_API_TOKEN: when set, this site serves its hosts and tracker data under /sync/ to clients
# that send it (HTTP basic auth). SYNCTOOL_CLIENT_*: where and how this site pulls from another one.
# Every synctools setting is SYNCTOOL_<name>; the older SYNCTOOLS_<name> is read when it is unset (docs/synctools.md).
SYNCTOOL_API_TOKEN = os.environ.get("SYNCTOOL_API_TOKEN", "")
SYNCTOOL_CLIENT_TOKEN = os.environ.get("SYNCTOOL_CLIENT_TOKEN", "")
SYNCTOOL_CLIENT_ENDPOINT = os.environ.get("SYNCTOOL_CLIENT_ENDPOINT", "")
SYNCTOOL_CLIENT_MEDIA_URL = os.environ.get("SYNCTOOL_CLIENT_MEDIA_URL", "")

# --- tracker: damas-core server switches (docs/tracker.md); other tracker defaults live in tracker/conf.py ---
TRACKER_AUTHOR_MODE = env_bool("TRACKER_AUTHOR_MODE", False)  # non-admins only see and change their own nodes
TRACKER_ANONYMOUS_READ = env_bool("TRACKER_ANONYMOUS_READ", False)  # read and search without a token
# Sites (volume names) this installation is the origin of: a replication pull never overwrites their files.
TRACKER_LOCAL_SITES = env_list("TRACKER_LOCAL_SITES", [])
# Request limits of the damas routes and the agent's ssh settings: taken from the environment when set there
# (their defaults and meaning: tracker/conf.py, tracker/agent/conf.py, docs/tracker.md, docs/tracker-agent.md).
for _name in (
    "TRACKER_MAX_BODY_BYTES",
    "TRACKER_MAX_ITEMS",
    "TRACKER_MAX_JSON_VALUES",
    "TRACKER_MAX_JSON_DEPTH",
    "TRACKER_MAX_NODE_BYTES",
    "TRACKER_MAX_QUERY_TERMS",
    "TRACKER_MAX_QUERY_NODES",
    "TRACKER_MAX_QUERY_DEPTH",
    "TRACKER_MAX_QUERY_CONDITIONS",
    "TRACKER_MAX_REGEX_LENGTH",
    "TRACKER_MAX_PAGE_SIZE",
    "TRACKER_MAX_RESPONSE_BYTES",
    "TRACKER_STATEMENT_TIMEOUT_MS",
    "TRACKER_MAX_UPLOAD_BYTES",
    "TRACKER_TOKEN_EXPIRY_SECONDS",
    "TRACKER_SCRIPT_TOKEN_EXPIRY_SECONDS",
    "TRACKER_PASSWORD_RESET_INTERVAL_SECONDS",
    "TRACKER_AGENT_SSH_CONNECT_TIMEOUT",
    "TRACKER_CAPACITY_INTERVAL_SECONDS",
    "TRACKER_DELETION_MAX_PER_ROUND",
    "TRACKER_TRASH_RETENTION_DAYS",
    "SYNCTOOLS_STALE_RUN_SECONDS",
    "SYNCSITE_CHANGE_RETENTION_DAYS",
):
    if os.environ.get(_name):
        globals()[_name] = env_int(_name, 0)
for _name in (
    "TRACKER_AGENT_SSH_BINARY",
    "TRACKER_AGENT_SSH_IDENTITY_FILE",
    "TRACKER_AGENT_SSH_KNOWN_HOSTS_FILE",
    "TRACKER_AGENT_SSH_STRICT_HOST_KEY_CHECKING",
    "TRACKER_FILE_VOLUME",
):
    if os.environ.get(_name):
        globals()[_name] = os.environ[_name]

# --- operations (docs/operations.md) -------------------------------------------------------------
# /metrics (Prometheus text format) answers only requests with "Authorization: Bearer <METRICS_TOKEN>";
# without a token the endpoint answers 404.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
# /readyz: a worker (qcluster) heartbeat older than this is not ready.
READYZ_WORKER_SECONDS = env_int("READYZ_WORKER_SECONDS", 120)
# Notifications: Django's mail settings send the mails (the SMTP password only ever from the environment).
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "syncsite@localhost")
# "queue": a worker sends the messages, so the run that raised the event never waits for a receiver; "inline":
# the raising process sends them itself.
NOTIFICATIONS_DELIVERY = os.environ.get("NOTIFICATIONS_DELIVERY", "queue")
if NOTIFICATIONS_DELIVERY not in ("queue", "inline"):
    raise ImproperlyConfigured(f"NOTIFICATIONS_DELIVERY must be 'queue' or 'inline', not {NOTIFICATIONS_DELIVERY!r}")
# The dashboard and the health checks: an agent silent this long is stale; a file in error this long is told.
OPS_AGENT_STALE_MINUTES = env_int("OPS_AGENT_STALE_MINUTES", 30)
OPS_FILE_ERROR_MINUTES = env_int("OPS_FILE_ERROR_MINUTES", 60)
# The audit log never stores these fields' values (encrypted secrets, password hashes, token digests).
AUDITLOG_INCLUDE_ALL_MODELS = False
