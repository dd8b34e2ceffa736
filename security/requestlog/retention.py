from datetime import timedelta

from django.utils import timezone

from ..models import RequestLog


def delete_old_logs(days: int, batch_size: int = 10_000) -> int:
    """Delete rows older than `days` in bounded batches, so no statement locks the table long."""
    cutoff = timezone.now() - timedelta(days=days)
    deleted = 0
    while True:
        ids = list(
            RequestLog.objects.filter(timestamp__lt=cutoff)
            .order_by()
            .values_list("id", flat=True)[:batch_size]
        )
        if not ids:
            return deleted
        deleted += RequestLog.objects.filter(id__in=ids).delete()[0]
