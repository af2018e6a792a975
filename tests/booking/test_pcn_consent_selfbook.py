"""Self-booking a time at a PCN site asks the patient's consent first: where the
site is, that the PCN's staff will see their record for this appointment, and a
box to tick. No tick, no booking. Times at the practice ask nothing."""

import pytest

from booking import selfbook
from booking.models import Booking
from booking.selectors import campaign_offerable_slots
from booking.services import BookingError
from hippo_pcn.audit.models import AuditEntry

from .test_selfbook import make_invite, verified_client


@pytest.fixture
def invited(mirrored, patients):
    invite, token = make_invite(mirrored, patients[0])
    return invite, token, patients[0]


def pcn_slot(campaign):
    return campaign_offerable_slots(campaign=campaign).filter(is_pcn=True).first()


def practice_slot(campaign):
    return campaign_offerable_slots(campaign=campaign).filter(is_pcn=False).first()


def created_audit(booking):
    return AuditEntry.objects.get(action="booking.created", object_id=str(booking.pk))


def test_choosing_a_pcn_time_shows_where_it_is_and_asks_consent(invited):
    invite, token, patient = invited
    client = verified_client(token, patient)
    slot = pcn_slot(invite.campaign)
    response = client.post(f"/book/{token}/book/", {"slot": slot.pk, "intent": "book"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "Check where this appointment is" in page
    assert slot.site_name == "Alpha Hub"
    assert 'data-testid="pcn-site">Alpha Hub<' in page
    assert slot.site_address and "1 High Street" in slot.site_address
    assert f'data-testid="pcn-address">{slot.site_address}<' in page
    assert "This is not your own GP practice" in page
    assert "staff will see your GP record for this appointment" in page
    assert 'id="id_pcn_consent" name="pcn_consent" type="checkbox"' in page
    assert f'name="slot" value="{slot.pk}"' in page
    assert "nhsuk-error-summary" not in page  # a question, not an error yet
    assert not Booking.objects.exists()


def test_pcn_time_without_the_tick_gets_an_error_summary_and_no_booking(invited):
    invite, token, patient = invited
    client = verified_client(token, patient)
    slot = pcn_slot(invite.campaign)
    response = client.post(
        f"/book/{token}/book/", {"slot": slot.pk, "intent": "book", "consent_asked": "1"}
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "<title>Error: Check where this appointment is" in page
    assert 'class="nhsuk-error-summary"' in page and "There is a problem" in page
    assert '<a href="#id_pcn_consent">Tick the box to agree' in page  # summary links the box
    assert 'class="nhsuk-form-group nhsuk-form-group--error"' in page
    assert 'id="pcn-consent-error"' in page  # the inline error beside the box
    assert "Alpha Hub" in page  # still says where
    assert not Booking.objects.exists()
    invite.refresh_from_db()
    assert invite.used_at is None


def test_pcn_time_with_the_tick_books_and_keeps_the_patients_consent(invited):
    invite, token, patient = invited
    client = verified_client(token, patient)
    slot = pcn_slot(invite.campaign)
    response = client.post(
        f"/book/{token}/book/",
        {"slot": slot.pk, "intent": "book", "consent_asked": "1", "pcn_consent": "on"},
    )
    assert response.status_code == 302
    assert response["Location"].endswith("/confirmed/")
    booking = Booking.objects.get()
    assert booking.is_pcn and booking.status == "booked"
    assert booking.booked_via == "self_book"
    assert booking.pcn_consent is True
    assert booking.pcn_consent_by is None  # the patient gave it: no user
    assert booking.pcn_consent_at is not None
    details = created_audit(booking).details
    assert details["pcn_consent"] is True
    assert details["pcn_consent_given_by"] == "patient"
    assert details["via"] == "self_book"


def test_a_practice_time_asks_nothing(invited):
    invite, token, patient = invited
    client = verified_client(token, patient)
    response = client.post(
        f"/book/{token}/book/", {"slot": practice_slot(invite.campaign).pk, "intent": "book"}
    )
    assert response.status_code == 302
    assert response["Location"].endswith("/confirmed/")
    booking = Booking.objects.get()
    assert not booking.is_pcn
    assert booking.pcn_consent is False and booking.pcn_consent_at is None
    assert created_audit(booking).details["pcn_consent_given_by"] is None


def test_changing_to_a_pcn_time_asks_consent_too(invited):
    invite, token, patient = invited
    client = verified_client(token, patient)
    client.post(f"/book/{token}/book/", {"slot": practice_slot(invite.campaign).pk})
    first = Booking.objects.get()
    slot = pcn_slot(invite.campaign)

    asked = client.post(f"/book/{token}/book/", {"slot": slot.pk, "intent": "change"})
    assert asked.status_code == 200
    assert "Change to this time" in asked.content.decode()
    refused = client.post(
        f"/book/{token}/book/", {"slot": slot.pk, "intent": "change", "consent_asked": "1"}
    )
    assert refused.status_code == 400
    assert b"nhsuk-error-summary" in refused.content
    first.refresh_from_db()
    assert first.status == "booked" and Booking.objects.count() == 1  # nothing moved

    moved = client.post(
        f"/book/{token}/book/",
        {"slot": slot.pk, "intent": "change", "consent_asked": "1", "pcn_consent": "on"},
    )
    assert moved.status_code == 302
    new = Booking.objects.get(status="booked")
    assert new.is_pcn and new.pcn_consent and new.pcn_consent_by is None
    assert created_audit(new).details["pcn_consent_given_by"] == "patient"


def test_the_service_refuses_a_pcn_time_without_consent(invited):
    invite, _, _ = invited
    with pytest.raises(BookingError, match="Tick the box"):
        selfbook.selfbook_book(invite=invite, slot=pcn_slot(invite.campaign))
    assert not Booking.objects.exists()
