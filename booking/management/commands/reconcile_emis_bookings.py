from django.core.management.base import BaseCommand

from booking.services import bookings_reconcile


class Command(BaseCommand):
    help = (
        "Settle bookings whose outcome in EMIS is not known (checking with EMIS, or left "
        "pending by a process that died): ask EMIS, then link each to its appointment or "
        "release its slot. Beat runs this every two minutes (booking.tasks)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=500, help="At most this many a run.")

    def handle(self, *args, **options):
        counts = bookings_reconcile(limit=options["limit"])
        summary = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))
        self.stdout.write(self.style.SUCCESS(f"Settled: {summary or 'nothing to settle'}."))
