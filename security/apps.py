from django.apps import AppConfig


class SecurityConfig(AppConfig):
    name = "security"
    verbose_name = "Security: IP tracking"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The checks modules register the system checks, account_limits its receiver.
        from . import account_limits, alerts, checks, setting_checks  # noqa: F401
        from .detection import setting_checks as detection_checks  # noqa: F401

        alerts.connect()
