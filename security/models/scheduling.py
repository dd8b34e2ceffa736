from django.db import models


class ScheduledRun(models.Model):
    """One slot of a periodic job: recorded and sent by the active scheduler, marked finished
    by the worker that ran it (see security/scheduling.py)."""

    job = models.CharField(max_length=100)
    slot = models.DateTimeField(help_text="The time the cron schedule named (UTC).")
    sent_at = models.DateTimeField()
    sends = models.PositiveSmallIntegerField(default=1)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "slot"], name="run_once_per_slot")]
        indexes = [models.Index(fields=["finished_at", "slot"], name="run_unfinished")]

    def __str__(self) -> str:
        return f"{self.job} @ {self.slot:%Y-%m-%d %H:%M}"
