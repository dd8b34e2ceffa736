"""Settings for the demo site. 12-factor: every knob is an environment variable with a default.

The table of variables lives in README.md; keep the two in step.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    if value.strip().lower() in {"1", "true", "yes", "on"}:
        return True
    if value.strip().lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean (use 1/0, true/false, on/off)")


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG", False)

DEVELOPMENT_SECRET_KEY = "django-insecure-development-key-never-use-in-production"
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or DEVELOPMENT_SECRET_KEY
if not DEBUG and SECRET_KEY == DEVELOPMENT_SECRET_KEY:
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off "
        "(the built-in development key is refused outside debug mode)"
    )

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_dramatiq",
    "security",
]

# The security middleware comes first: the client IP is resolved once, every request is
# logged (including the ones rejected below it), and blocked clients are turned away before
# sessions, CSRF or any view does work for them. RateLimitMiddleware decides in process_view,
# once the user is known: its place only needs to be after BlockedIPMiddleware.
MIDDLEWARE = [
    "security.middleware.ClientIPMiddleware",
    "security.middleware.RequestLogMiddleware",
    "security.middleware.BlockedIPMiddleware",
    "security.middleware.RateLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "project.urls"
WSGI_APPLICATION = "project.wsgi.application"

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

# --- Database -------------------------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=600)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server, the worker and the scheduler read while one of them writes;
    # IMMEDIATE transactions take the write lock up front instead of failing on upgrade.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
else:
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # libpq: give up connecting after 2 s (its least), and give up on a server that stopped
    # acknowledging (a cut network, a black-holed or lost host) after 5 s, probing an idle
    # connection after 2 s, instead of the kernel's minutes to hours. A drain retries its batch
    # on a new connection as soon as one answers; docs/deployment.md says what this measures.
    DATABASES["default"]["OPTIONS"] = {
        "connect_timeout": 2,
        "keepalives": 1,
        "keepalives_idle": 2,
        "keepalives_interval": 1,
        "keepalives_count": 3,
        "tcp_user_timeout": 5000,
        # The same on the server's side of each session: a client host that vanished
        # mid-transaction is ended within seconds. Its own time-outs cannot do it once a
        # statement time-out has aborted the transaction (that undoes the drain's SET LOCAL
        # idle_in_transaction_session_timeout), and the session would wait idle for hours.
        "options": "-c tcp_keepalives_idle=2 -c tcp_keepalives_interval=1 "
        "-c tcp_keepalives_count=3 -c tcp_user_timeout=5000",
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache, rate-limit counters, log buffer, Dramatiq broker ----------------------------
# One server (redis://host:6379/0) or a service behind Sentinel
# (redis+sentinel://host1:26379,host2:26379,host3:26379/mymaster/0): security/redis_client.py.
REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"

# Short socket timeouts: a Redis that hangs must cost a request milliseconds, not seconds.
REDIS_CLIENT_OPTIONS = {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}

# The default cache holds the rate-limit counters and geolocation answers: shared by every
# process. A Redis outage is handled by the app (SECURITY_RATELIMIT_FAIL_OPEN).
# LOCATION is a list because Django splits a string at commas (a Sentinel URL has them); the
# app's pool class reads either kind of URL.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": [REDIS_URL],
        "OPTIONS": {**REDIS_CLIENT_OPTIONS, "pool_class": "security.redis_client.ConnectionPool"},
        "KEY_PREFIX": "site",
    },
}

DRAMATIQ_BROKER = {
    # Behind Sentinel, dramatiq's RedisBroker on the app's client (which follows a failover).
    "BROKER": "security.broker.RedisBroker"
    if REDIS_URL.startswith(("redis+sentinel://", "rediss+sentinel://"))
    else "dramatiq.brokers.redis.RedisBroker",
    "OPTIONS": {"url": REDIS_URL},
    # dramatiq's default middleware, listed explicitly, plus Django's connection hygiene and
    # periodiq (without PeriodiqMiddleware, actors declared with periodic= fail to import).
    "MIDDLEWARE": [
        "dramatiq.middleware.AgeLimit",
        "dramatiq.middleware.TimeLimit",
        "dramatiq.middleware.ShutdownNotifications",
        "dramatiq.middleware.Callbacks",
        "dramatiq.middleware.Pipelines",
        "dramatiq.middleware.Retries",
        "django_dramatiq.middleware.DbConnectionsMiddleware",
        "periodiq.PeriodiqMiddleware",
    ],
}

# --- Auth, i18n, static ----------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# --- HTTPS hardening (on by default outside debug; switch off only behind your own TLS) -------
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_HSTS_SECONDS", "0" if DEBUG else "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", False)
if env_bool("DJANGO_SECURE_PROXY_SSL_HEADER", False):
    # Only safe when every request reaches Django through a proxy that sets this header.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- The security app (defaults live in security/conf.py) -------------------------------------
GEOIP_PATH = os.environ.get("GEOIP_PATH") or str(BASE_DIR / "geo_data")
SECURITY_TRUSTED_PROXIES = env_list("SECURITY_TRUSTED_PROXIES")
SECURITY_FORWARDED_HEADER = os.environ.get("SECURITY_FORWARDED_HEADER", "HTTP_X_FORWARDED_FOR")
SECURITY_GEO_API_URL = os.environ.get("SECURITY_GEO_API_URL", "http://ip-api.com/json/{ip}")
SECURITY_GEO_API_BATCH_URL = os.environ.get(
    "SECURITY_GEO_API_BATCH_URL", "http://ip-api.com/batch" if SECURITY_GEO_API_URL else ""
)
SECURITY_RATELIMIT_FAIL_OPEN = env_bool("SECURITY_RATELIMIT_FAIL_OPEN", True)
SECURITY_AUTO_BLOCK = env_bool("SECURITY_AUTO_BLOCK", False)
SECURITY_LOG_CLAIM_IDLE_SECONDS = float(os.environ.get("SECURITY_LOG_CLAIM_IDLE_SECONDS", "60"))
SECURITY_LOG_FLUSH_INTERVAL = float(os.environ.get("SECURITY_LOG_FLUSH_INTERVAL", "1.0"))
SECURITY_METRICS_TOKEN = os.environ.get("SECURITY_METRICS_TOKEN", "")
SECURITY_METRICS_NETWORKS = env_list("SECURITY_METRICS_NETWORKS")
SECURITY_ALERT_WEBHOOK_URL = os.environ.get("SECURITY_ALERT_WEBHOOK_URL", "")
SECURITY_LOGIN_URL = "login"  # the demo's own login page (the app's default: the admin's)

# A site's own django-ratelimit decorators key on the same client IP as everything else.
RATELIMIT_IP_META_KEY = "security.client_ip.ratelimit_ip"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "security": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "periodiq": {"handlers": ["console"], "level": "INFO", "propagate": False},
        # A rate-limited request is expected traffic, not an error with a traceback.
        "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
    },
}
