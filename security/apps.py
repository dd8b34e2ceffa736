from django.apps import AppConfig


class SecurityConfig(AppConfig):
    name = "security"
    verbose_name = "Security: IP tracking"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import alerts, checks  # noqa: F401  (checks registers the system checks)

        alerts.connect()
