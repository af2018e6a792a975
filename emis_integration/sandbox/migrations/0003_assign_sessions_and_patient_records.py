"""Existing slots get their sessions (one per schedule and UK local day) and
existing appointments the patient record that holds them. Plain Python over the
historical models, so it runs on PostgreSQL and on the demo's SQLite."""

from django.db import migrations


def forwards(apps, schema_editor):
    from emis_integration.sandbox.services import appointment_records_assign, slot_sessions_assign

    slot_sessions_assign(
        session_model=apps.get_model("emis_sandbox", "AppointmentSession"),
        slot_model=apps.get_model("emis_sandbox", "Slot"),
    )
    appointment_records_assign(
        appointment_model=apps.get_model("emis_sandbox", "Appointment"),
        patient_model=apps.get_model("emis_sandbox", "Patient"),
    )


class Migration(migrations.Migration):

    dependencies = [
        ("emis_sandbox", "0002_sessions_partner_api_records"),
    ]

    operations = [
        migrations.RunPython(forwards, migrations.RunPython.noop, elidable=True),
    ]
