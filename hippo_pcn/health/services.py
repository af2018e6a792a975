from django.utils import timezone

from .models import Heartbeat

BEAT_HEARTBEAT = "celery-beat"


def heartbeat_touch(*, name: str = BEAT_HEARTBEAT) -> Heartbeat:
    heartbeat, _ = Heartbeat.objects.update_or_create(
        name=name, defaults={"last_seen": timezone.now()}
    )
    return heartbeat
