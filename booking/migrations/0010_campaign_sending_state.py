"""The campaign's sending state as fields (it was read back from the audit log).

Each existing campaign takes the state its latest "invites.wave_state" audit entry
recorded, with that entry's time as the time the state began; a campaign that never
ran a wave is left blank. The audit entries stay: they are the history."""

from django.db import migrations, models

WAVE_STATE_ACTION = "invites.wave_state"
STATES = {"sending", "paused", "done"}
BATCH_SIZE = 500


def fill_sending_state(apps, schema_editor):
    Campaign = apps.get_model("booking", "Campaign")
    AuditEntry = apps.get_model("audit", "AuditEntry")
    entries = (
        AuditEntry.objects.filter(
            action=WAVE_STATE_ACTION,
            content_type__app_label="booking",
            content_type__model="campaign",
        )
        .order_by("object_id", "-created_at", "-pk")
        .values_list("object_id", "details", "created_at")
    )
    latest = {}
    for object_id, details, created_at in entries.iterator(chunk_size=2_000):
        if object_id not in latest:
            latest[object_id] = (details or {}, created_at)
    changed = []
    for campaign in Campaign.objects.filter(pk__in=[int(k) for k in latest if k.isdigit()]):
        details, created_at = latest[str(campaign.pk)]
        state = details.get("state")
        if state not in STATES:
            continue
        campaign.sending_state = state
        campaign.sending_reason = "" if state == "sending" else str(details.get("reason") or "")
        campaign.sending_state_since = created_at
        changed.append(campaign)
    Campaign.objects.bulk_update(
        changed,
        ["sending_state", "sending_reason", "sending_state_since"],
        batch_size=BATCH_SIZE,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0003_fewer_indexes"),
        ("booking", "0009_staff_change_messages"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.AddField(
            model_name="campaign",
            name="sending_state",
            field=models.CharField(
                blank=True,
                choices=[("sending", "Sending"), ("paused", "Paused"), ("done", "Done")],
                default="",
                editable=False,
                max_length=10,
            ),
        ),
        migrations.AddField(
            model_name="campaign",
            name="sending_reason",
            field=models.CharField(
                blank=True,
                default="",
                editable=False,
                help_text="Why the campaign is paused or done (blank while sending).",
                max_length=60,
            ),
        ),
        migrations.AddField(
            model_name="campaign",
            name="sending_state_since",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.RunPython(fill_sending_state, migrations.RunPython.noop, elidable=True),
    ]
