from django.db import models


class Heartbeat(models.Model):
    """The last time a periodic job proved it runs: beat schedules the
    heartbeat task, a worker runs it, and the row's time moves on."""

    name = models.CharField(max_length=64, primary_key=True)
    last_seen = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} at {self.last_seen:%Y-%m-%d %H:%M:%S}"
