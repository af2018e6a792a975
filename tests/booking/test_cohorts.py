"""Campaign cohorts (booking/cohorts.py, booking/cohort_views.py): age on a date
(leap-day birthdays included), a CSV file of NHS numbers with its per-row report,
ticking on a searchable paged list, the count shown before anything is added,
removal (refused once booked, audited), and tenancy."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from booking import cohorts
from booking.cohorts import (
    AgeCriteria,
    CohortError,
    age_on,
    campaign_patient_remove,
    campaign_patients_add,
    cohort_by_age,
    cohort_from_nhs_numbers_csv,
    cohort_preview,
    cohort_selection_sign,
    latest_birth_date_for_age,
)
from booking.csv_import import PatientFileError
from booking.models import Booking, BookingStatus, Campaign, CampaignPatient
from hippo_pcn.audit.models import AuditEntry
from tests.emis_world import at

from .factories import PatientFactory, csv_upload, invalid_check_digit, nhs_number

# --- Fixtures -------------------------------------------------------------------------------


def make_campaign(practice, user, **fields) -> Campaign:
    today = timezone.localdate()
    values = {
        "name": "Covid booster",
        "appointment_type": "Covid booster",
        "start_date": today,
        "end_date": today + timedelta(days=30),
        "status": "draft",
        "created_by": user,
    }
    values.update(fields)
    return Campaign.objects.create(practice=practice, **values)


@pytest.fixture
def draft(practice_a, practice_admin):
    return make_campaign(practice_a, practice_admin)


@pytest.fixture
def other_campaign(practice_b, other_practice_admin):
    return make_campaign(practice_b, other_practice_admin, name="Beta boosters")


def entries(campaign) -> set[int]:
    return set(
        CampaignPatient.objects.filter(campaign=campaign).values_list("patient_id", flat=True)
    )


def text_of(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def selection_token(response) -> str:
    found = re.search(r'name="selection" value="([^"]+)"', response.content.decode())
    assert found, "the confirmation form carries the selection"
    return found.group(1)


# --- Age on a date --------------------------------------------------------------------------


def test_a_29_february_birthday_turns_a_year_older_on_1_march_in_a_common_year():
    born = date(1960, 2, 29)
    assert age_on(born=born, on=date(2027, 2, 28)) == 66
    assert age_on(born=born, on=date(2027, 3, 1)) == 67
    # In a leap year the birthday is 29 February itself.
    assert age_on(born=born, on=date(2028, 2, 28)) == 67
    assert age_on(born=born, on=date(2028, 2, 29)) == 68
    # The latest date of birth for "67 or over" on 28 Feb 2027 is 28 Feb 1960;
    # on 29 Feb 2028 for "68 or over" it is 29 Feb 1960; on 29 Feb 2028 for "67 or
    # over" (1961 has no 29 February) it is 28 Feb 1961.
    assert latest_birth_date_for_age(age=67, on=date(2027, 2, 28)) == date(1960, 2, 28)
    assert latest_birth_date_for_age(age=68, on=date(2028, 2, 29)) == date(1960, 2, 29)
    assert latest_birth_date_for_age(age=67, on=date(2028, 2, 29)) == date(1961, 2, 28)


def test_cohort_by_age_with_leap_day_birthdays(practice_a):
    leap = PatientFactory(practice=practice_a, date_of_birth=date(1960, 2, 29))
    day_before = PatientFactory(practice=practice_a, date_of_birth=date(1960, 2, 28))
    day_after = PatientFactory(practice=practice_a, date_of_birth=date(1960, 3, 1))

    def found(on, age_from=67, age_to=None):
        patients = cohort_by_age(practice=practice_a, age_from=age_from, age_to=age_to, on=on)
        return set(patients)

    assert found(date(2027, 2, 28)) == {day_before}
    assert found(date(2027, 3, 1)) == {day_before, leap, day_after}
    # "66 or under" on 28 Feb 2027: the leap-day patient is still 66.
    assert found(date(2027, 2, 28), age_from=None, age_to=66) == {leap, day_after}
    assert found(date(2027, 3, 1), age_from=None, age_to=66) == set()


def test_cohort_by_age_matches_age_on_around_leap_days(practice_a):
    """Every date of birth around the end of February, in leap and common years,
    against every date around the end of February: the query agrees with age_on."""
    births = [
        date(year, month, day)
        for year in (1959, 1960, 1961, 2011, 2012)
        for month, day in ((2, 27), (2, 28), (2, 29), (3, 1), (3, 2))
        if not (month == 2 and day == 29 and year % 4)
    ]
    patients = {PatientFactory(practice=practice_a, date_of_birth=born).pk: born for born in births}
    days = [date(2027, 2, 28), date(2027, 3, 1), date(2028, 2, 28), date(2028, 2, 29)]
    days += [date(2028, 3, 1), date(2024, 2, 29)]
    for on in days:
        for age_from, age_to in ((67, None), (None, 15), (15, 16), (66, 68), (0, None)):
            expected = {
                pk
                for pk, born in patients.items()
                if born <= on
                and (age_from is None or age_on(born=born, on=on) >= age_from)
                and (age_to is None or age_on(born=born, on=on) <= age_to)
            }
            got = set(
                cohort_by_age(
                    practice=practice_a, age_from=age_from, age_to=age_to, on=on
                ).values_list("pk", flat=True)
            )
            assert got == expected, (on, age_from, age_to)


def test_age_criteria_are_checked_and_described():
    on = date(2027, 3, 31)
    with pytest.raises(CohortError, match="lowest age, a highest age"):
        AgeCriteria(age_from=None, age_to=None, on=on)
    with pytest.raises(CohortError, match="same as or more than"):
        AgeCriteria(age_from=65, age_to=18, on=on)
    assert AgeCriteria(65, None, on).describe() == "aged 65 or over on 31 March 2027"
    assert AgeCriteria(2, 17, on).describe() == "aged 2 to 17 on 31 March 2027"
    assert AgeCriteria(None, 4, on).describe() == "aged 4 or under on 31 March 2027"


def test_cohort_by_age_is_the_practices_own(practice_a, practice_b):
    mine = PatientFactory(practice=practice_a, date_of_birth=date(1950, 1, 1))
    PatientFactory(practice=practice_b, date_of_birth=date(1950, 1, 1))
    on = date(2027, 3, 31)
    assert list(cohort_by_age(practice=practice_a, age_from=65, age_to=None, on=on)) == [mine]


# --- Count before adding, by age ------------------------------------------------------------


def test_age_cohort_shows_the_count_then_adds_on_confirmation(
    client_for, practice_admin, practice_a, draft
):
    old = [PatientFactory(practice=practice_a, date_of_birth=date(1950, 6, 1)) for _ in range(3)]
    PatientFactory(practice=practice_a, date_of_birth=date(1990, 6, 1))
    CampaignPatient.objects.create(campaign=draft, patient=old[0])
    client = client_for(practice_admin)

    page = client.get(
        reverse("booking:cohort_age", args=[draft.pk]),
        {"age_from": "65", "age_to": "", "on": "2027-03-31"},
    )
    assert page.status_code == 200
    content = text_of(page)
    assert "Add 2 patients aged 65 or over on 31 March 2027?" in content
    assert 'data-testid="count-already">1 ' in content
    assert entries(draft) == {old[0].pk}  # nothing added yet

    added = client.post(
        reverse("booking:cohort_add", args=[draft.pk]), {"selection": selection_token(page)}
    )
    assert added.status_code == 302
    assert entries(draft) == {p.pk for p in old}
    follow = text_of(client.get(added["Location"]))
    assert "2 patients aged 65 or over on 31 March 2027 added; 1 were already in the campaign" in (
        follow
    )
    # Confirming twice adds nobody twice.
    again = client.post(
        reverse("booking:cohort_add", args=[draft.pk]), {"selection": selection_token(page)}
    )
    assert again.status_code == 302
    assert CampaignPatient.objects.filter(campaign=draft).count() == 3


def test_age_form_errors_are_explained(client_for, practice_admin, draft):
    page = client_for(practice_admin).get(
        reverse("booking:cohort_age", args=[draft.pk]), {"age_from": "", "age_to": "", "on": ""}
    )
    assert page.status_code == 400
    content = text_of(page)
    assert "There is a problem" in content
    assert "Enter the date the age is counted on" in content
    page = client_for(practice_admin).get(
        reverse("booking:cohort_age", args=[draft.pk]),
        {"age_from": "70", "age_to": "60", "on": "31/03/2027"},
    )
    assert page.status_code == 400
    assert "The highest age must be the same as or more than the lowest age." in text_of(page)


def test_all_practice_patients_stays_an_option_with_its_count(
    client_for, practice_admin, practice_a, practice_b, draft
):
    mine = [PatientFactory(practice=practice_a) for _ in range(4)]
    PatientFactory(practice=practice_b)
    client = client_for(practice_admin)
    start = text_of(client.get(reverse("booking:cohort_start", args=[draft.pk])))
    assert "Add all 4 practice patients" in start
    page = client.get(reverse("booking:cohort_all", args=[draft.pk]))
    assert "Add 4 patients on Alpha Surgery&#x27;s patient list?" in text_of(page)
    client.post(
        reverse("booking:cohort_add", args=[draft.pk]), {"selection": selection_token(page)}
    )
    assert entries(draft) == {p.pk for p in mine}


def test_nothing_to_add_says_so_without_a_confirm_button(
    client_for, practice_admin, practice_a, draft
):
    patient = PatientFactory(practice=practice_a, date_of_birth=date(1950, 1, 1))
    CampaignPatient.objects.create(campaign=draft, patient=patient)
    page = client_for(practice_admin).get(
        reverse("booking:cohort_age", args=[draft.pk]), {"age_from": "65", "on": "2027-03-31"}
    )
    content = text_of(page)
    assert 'data-testid="nothing-to-add"' in content
    assert "Every patient found is already in the campaign." in content
    assert 'name="selection"' not in content


# --- The selection token ---------------------------------------------------------------------


def test_a_token_adds_only_its_own_campaigns_practice_patients(
    practice_admin, practice_a, practice_b, draft, other_campaign
):
    mine = PatientFactory(practice=practice_a)
    theirs = PatientFactory(practice=practice_b)
    token = cohort_selection_sign(campaign=draft, patient_ids=[mine.pk, theirs.pk], description="x")
    result = campaign_patients_add(user=practice_admin, campaign=draft, token=token)
    assert (result.added, result.already) == (1, 0)
    assert entries(draft) == {mine.pk}
    # A token for one campaign is refused by another, and an altered one by all.
    with pytest.raises(CohortError, match="could not be read"):
        campaign_patients_add(user=practice_admin, campaign=draft, token=token + "x")
    other_token = cohort_selection_sign(
        campaign=other_campaign, patient_ids=[mine.pk], description="x"
    )
    with pytest.raises(CohortError, match="could not be read"):
        campaign_patients_add(user=practice_admin, campaign=draft, token=other_token)


def test_an_expired_token_adds_nobody(practice_admin, practice_a, draft, time_machine):
    patient = PatientFactory(practice=practice_a)
    token = cohort_preview(campaign=draft, patient_ids=[patient.pk], description="x").token
    time_machine.move_to(timezone.now() + timedelta(hours=2))
    with pytest.raises(CohortError, match="more than an hour old"):
        campaign_patients_add(user=practice_admin, campaign=draft, token=token)
    assert entries(draft) == set()


def test_a_large_selection_stays_small(practice_a, draft):
    ids = list(range(1, 30_001))
    token = cohort_selection_sign(campaign=draft, patient_ids=ids, description="everyone")
    assert len(token) < 2_000
    assert cohorts.cohort_selection_unsign(campaign=draft, token=token) == (ids, "everyone")


# --- A CSV file of NHS numbers --------------------------------------------------------------


def nhs_csv(*values: str, header: str | None = "nhs_number") -> bytes:
    lines = ([header] if header else []) + list(values)
    return ("\r\n".join(lines) + "\r\n").encode()


@pytest.fixture
def csv_world(practice_a, practice_b, draft):
    good = PatientFactory(practice=practice_a, nhs_number=nhs_number(1))
    good2 = PatientFactory(practice=practice_a, nhs_number=nhs_number(2))
    already = PatientFactory(practice=practice_a, nhs_number=nhs_number(3))
    elsewhere = PatientFactory(practice=practice_b, nhs_number=nhs_number(4))
    CampaignPatient.objects.create(campaign=draft, patient=already)
    data = nhs_csv(
        good.nhs_number,  # row 2
        f"{good2.nhs_number[:3]} {good2.nhs_number[3:6]} {good2.nhs_number[6:]}",  # row 3
        already.nhs_number,  # row 4
        good.nhs_number,  # row 5: duplicate of row 2
        nhs_number(5),  # row 6: valid, not a patient anywhere
        elsewhere.nhs_number,  # row 7: another practice's patient
        invalid_check_digit(nhs_number(6)),  # row 8: checksum
        "12345",  # row 9: too short
    )
    return {"good": good, "good2": good2, "already": already, "data": data}


def test_nhs_number_file_is_reported_row_by_row(practice_a, csv_world):
    parsed = cohort_from_nhs_numbers_csv(practice=practice_a, data=csv_world["data"], max_rows=100)
    assert parsed.row_count == 8
    assert parsed.patient_ids == [
        csv_world["good"].pk,
        csv_world["good2"].pk,
        csv_world["already"].pk,
    ]
    assert [e.row for e in parsed.errors] == [5, 6, 7, 8, 9]
    assert (parsed.duplicate_count, parsed.unknown_count, parsed.invalid_count) == (1, 2, 2)
    messages = {e.row: e.messages[0] for e in parsed.errors}
    assert "this row is a duplicate of row 2" in messages[5]
    assert "is not on Alpha Surgery's patient list in hippo-pcn" in messages[6]
    assert "is not on Alpha Surgery's patient list in hippo-pcn" in messages[7]
    assert "the check digit" in messages[8]
    assert "must be 10 digits" in messages[9]


def test_nhs_number_file_without_heading_or_with_other_columns(practice_a):
    patient = PatientFactory(practice=practice_a, nhs_number=nhs_number(7))
    bare = cohort_from_nhs_numbers_csv(
        practice=practice_a, data=nhs_csv(patient.nhs_number, header=None), max_rows=10
    )
    assert bare.patient_ids == [patient.pk] and not bare.errors
    wide = cohort_from_nhs_numbers_csv(
        practice=practice_a,
        data=f"Surname,NHS Number\r\nSmith,{patient.nhs_number}\r\n".encode(),
        max_rows=10,
    )
    assert wide.patient_ids == [patient.pk] and not wide.errors


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The selected file is empty."),
        (b"nhs_number\r\n", "The file has no NHS numbers"),
        (b"PK\x03\x04 rest of a workbook", "Excel workbook"),
        (b"surname,postcode\r\nSmith,AB1 2CD\r\n", "one column of NHS numbers"),
    ],
)
def test_whole_file_problems_are_explained(practice_a, data, message):
    with pytest.raises(PatientFileError, match=message):
        cohort_from_nhs_numbers_csv(practice=practice_a, data=data, max_rows=10)


def test_too_many_rows_is_refused(practice_a):
    data = nhs_csv(*(nhs_number(n) for n in range(5)))
    with pytest.raises(PatientFileError, match="more than 3 rows"):
        cohort_from_nhs_numbers_csv(practice=practice_a, data=data, max_rows=3)


def test_csv_upload_shows_the_import_report_and_count_before_adding(
    client_for, practice_admin, draft, csv_world
):
    client = client_for(practice_admin)
    page = client.post(
        reverse("booking:cohort_csv", args=[draft.pk]),
        {"file": csv_upload(csv_world["data"], name="boosters.csv")},
    )
    assert page.status_code == 200
    content = text_of(page)
    assert "Add 2 patients from the file boosters.csv?" in content
    assert 'data-testid="count-rows">8<' in content
    assert 'data-testid="count-already">1 ' in content
    # The patient import's per-row report, with its table and row numbers.
    assert 'data-testid="error-rows"' in content
    for row in (5, 6, 7, 8, 9):
        assert f'aria-hidden="true">Row </span>{row}</th>' in content
    assert "this row is a duplicate of row 2" in content
    assert "does not match, so a digit may be mistyped" in content
    assert entries(draft) == {csv_world["already"].pk}

    client.post(
        reverse("booking:cohort_add", args=[draft.pk]), {"selection": selection_token(page)}
    )
    assert entries(draft) == {csv_world[k].pk for k in ("good", "good2", "already")}


def test_csv_upload_whole_file_error_is_an_error_summary(client_for, practice_admin, draft):
    client = client_for(practice_admin)
    page = client.post(
        reverse("booking:cohort_csv", args=[draft.pk]),
        {"file": csv_upload(b"PK\x03\x04 a workbook", name="list.xlsx")},
    )
    assert page.status_code == 400
    content = text_of(page)
    assert "There is a problem" in content and "Excel workbook" in content
    missing = client.post(reverse("booking:cohort_csv", args=[draft.pk]), {})
    assert missing.status_code == 400
    assert "Select a CSV file" in text_of(missing)


def test_csv_upload_over_the_size_limit_is_refused(client_for, practice_admin, draft, settings):
    settings.PATIENT_IMPORT_MAX_BYTES = 100
    page = client_for(practice_admin).post(
        reverse("booking:cohort_csv", args=[draft.pk]),
        {"file": csv_upload(nhs_csv(*(nhs_number(n) for n in range(20))))},
    )
    assert page.status_code == 400
    assert "must be smaller than" in text_of(page)


# --- Ticking on a searchable, paged list ----------------------------------------------------


@pytest.fixture
def many(practice_a):
    people = [
        PatientFactory(practice=practice_a, last_name=f"Person{n:03d}", first_name="Sam")
        for n in range(120)
    ]
    PatientFactory(practice=practice_a, last_name="Zephyrine", first_name="Quill")
    return people


def rendered_ids(response, kind="checkbox") -> list[int]:
    if kind == "checkbox":
        pattern = r'name="patient" type="checkbox" value="(\d+)"'
    else:
        pattern = r'type="hidden" name="patient" value="(\d+)"'
    return [int(v) for v in re.findall(pattern, response.content.decode())]


def test_pick_list_is_paged_50_at_a_time_and_searchable(
    client_for, practice_admin, draft, many, django_assert_max_num_queries
):
    client = client_for(practice_admin)
    url = reverse("booking:cohort_pick", args=[draft.pk])
    with django_assert_max_num_queries(12):
        first = client.get(url)
    assert first.status_code == 200
    assert rendered_ids(first) == [p.pk for p in many[:50]]
    assert "121 patients on the practice" in text_of(first)
    assert "Page 1 of 3." in text_of(first)
    third = client.get(url, {"page": "3"})
    assert len(rendered_ids(third)) == 21
    by_name = client.get(url, {"q": "zephyr"})
    assert "1 patient matches" in text_of(by_name)
    assert "ZEPHYRINE, Quill" in text_of(by_name)
    by_number = client.get(url, {"q": many[7].nhs_number_display})
    assert rendered_ids(by_number) == [many[7].pk]


def test_ticks_survive_paging_and_are_counted_before_adding(
    client_for, practice_admin, draft, many
):
    CampaignPatient.objects.create(campaign=draft, patient=many[1])
    client = client_for(practice_admin)
    url = reverse("booking:cohort_pick", args=[draft.pk])
    # Tick two on page 1, then go to page 2: they travel as hidden fields.
    page2 = client.post(url, {"patient": [many[0].pk, many[2].pk], "page": "2"})
    assert sorted(rendered_ids(page2, "hidden")) == sorted([many[0].pk, many[2].pk])
    assert "2 ticked" in text_of(page2)
    # Back on page 1 they are shown ticked; the patient already in the campaign
    # has no box.
    page1 = client.post(url, {"patient": [many[0].pk, many[2].pk], "page": "1"})
    content = page1.content.decode()
    assert f'value="{many[0].pk}" checked' in content
    assert many[1].pk not in rendered_ids(page1)
    assert 'data-testid="in-campaign"' in content

    review = client.post(
        reverse("booking:cohort_pick_review", args=[draft.pk]),
        {"patient": [many[0].pk, many[2].pk, many[60].pk, many[1].pk]},
    )
    content = text_of(review)
    assert "Add 3 patients ticked on the list?" in content
    assert 'data-testid="count-already">1 ' in content
    assert entries(draft) == {many[1].pk}
    client.post(
        reverse("booking:cohort_add", args=[draft.pk]), {"selection": selection_token(review)}
    )
    assert entries(draft) == {many[i].pk for i in (0, 1, 2, 60)}


def test_ticking_nobody_or_too_many_is_explained(
    client_for, practice_admin, draft, many, monkeypatch
):
    client = client_for(practice_admin)
    nobody = client.post(reverse("booking:cohort_pick_review", args=[draft.pk]), {"q": "Sam"})
    assert nobody.status_code == 400
    content = text_of(nobody)
    assert "There is a problem" in content and "Tick at least one patient to add." in content
    assert "120 patients match" in content  # the search is kept
    monkeypatch.setattr(cohorts, "PICK_MAX", 5)
    for name in ("booking:cohort_pick", "booking:cohort_pick_review"):
        too_many = client.post(
            reverse(name, args=[draft.pk]), {"patient": [p.pk for p in many[:6]]}
        )
        assert too_many.status_code == 400
        assert "Tick at most 5 patients" in text_of(too_many)
    assert entries(draft) == set()


def test_searching_keeps_the_ticks(client_for, practice_admin, draft, many):
    page = client_for(practice_admin).post(
        reverse("booking:cohort_pick", args=[draft.pk]),
        {"q": "zephyr", "patient": [many[0].pk, many[99].pk]},
    )
    assert "1 patient matches" in text_of(page)
    assert sorted(rendered_ids(page, "hidden")) == sorted([many[0].pk, many[99].pk])
    assert "2 ticked so far" in text_of(page)


def test_ticked_ids_of_another_practice_are_ignored(
    client_for, practice_admin, draft, practice_b, many
):
    stranger = PatientFactory(practice=practice_b)
    review = client_for(practice_admin).post(
        reverse("booking:cohort_pick_review", args=[draft.pk]),
        {"patient": [stranger.pk, many[0].pk, "not-a-number"]},
    )
    assert "Add 1 patient ticked on the list?" in text_of(review)


# --- Removing -------------------------------------------------------------------------------


def test_removing_an_unbooked_patient_is_allowed_and_audited(
    client_for, practice_admin, practice_a, draft
):
    patient = PatientFactory(practice=practice_a)
    CampaignPatient.objects.create(campaign=draft, patient=patient)
    client = client_for(practice_admin)
    url = reverse("booking:campaign_patient_remove", args=[draft.pk, patient.pk])
    page = client.get(url)
    assert page.status_code == 200 and 'data-testid="confirm-remove"' in page.content.decode()
    assert entries(draft) == {patient.pk}
    done = client.post(url)
    assert done.status_code == 302
    assert entries(draft) == set()
    entry = AuditEntry.objects.get(action="campaign.patient_removed")
    assert entry.actor == practice_admin
    assert entry.object_id == str(draft.pk)
    assert entry.details == {"patient_id": patient.pk}
    assert "was removed from the campaign" in text_of(client.get(done["Location"]))
    # Gone from the campaign: the page is now a 404.
    assert client.get(url).status_code == 404


def test_removing_a_booked_patient_is_refused_with_a_clear_message(
    client_for, practice_admin, practice_a, draft, emis_world
):
    patient = PatientFactory(practice=practice_a)
    CampaignPatient.objects.create(campaign=draft, patient=patient)
    Booking.objects.create(
        campaign=draft,
        patient=patient,
        practice=practice_a,
        connection=practice_a.emis_connections.first(),
        emis_slot_id="s-1",
        start=at(2, 9),
        end=at(2, 9, 10),
        status=BookingStatus.BOOKED,
        booked_via="staff",
    )
    with pytest.raises(CohortError, match="Cancel the booking first"):
        campaign_patient_remove(user=practice_admin, campaign=draft, patient=patient)
    client = client_for(practice_admin)
    url = reverse("booking:campaign_patient_remove", args=[draft.pk, patient.pk])
    page = client.get(url)
    assert 'data-testid="remove-refused"' in page.content.decode()
    assert 'data-testid="confirm-remove"' not in page.content.decode()
    refused = client.post(url)
    assert refused.status_code == 409
    assert "has a booking in this campaign, so they cannot be removed" in text_of(refused)
    assert entries(draft) == {patient.pk}
    assert not AuditEntry.objects.filter(action="campaign.patient_removed").exists()
    # Once the booking is cancelled they can be removed.
    Booking.objects.filter(patient=patient).update(status=BookingStatus.CANCELLED)
    campaign_patient_remove(user=practice_admin, campaign=draft, patient=patient)
    assert entries(draft) == set()


def test_campaign_page_links_to_cohorts_and_removal(client_for, practice_admin, practice_a, draft):
    patient = PatientFactory(practice=practice_a)
    CampaignPatient.objects.create(campaign=draft, patient=patient)
    content = (
        client_for(practice_admin)
        .get(reverse("booking:campaign_detail", args=[draft.pk]))
        .content.decode()
    )
    assert reverse("booking:cohort_start", args=[draft.pk]) in content
    assert reverse("booking:campaign_patient_remove", args=[draft.pk, patient.pk]) in content


# --- Tenancy and rights ---------------------------------------------------------------------


def cohort_urls(campaign, patient) -> list[tuple[str, str]]:
    pk = campaign.pk
    return [
        ("get", reverse("booking:cohort_start", args=[pk])),
        ("get", reverse("booking:cohort_all", args=[pk])),
        ("get", reverse("booking:cohort_age", args=[pk]) + "?age_from=65&on=2027-03-31"),
        ("post", reverse("booking:cohort_csv", args=[pk])),
        ("get", reverse("booking:cohort_pick", args=[pk])),
        ("post", reverse("booking:cohort_pick", args=[pk])),
        ("post", reverse("booking:cohort_pick_review", args=[pk])),
        ("post", reverse("booking:cohort_add", args=[pk])),
        ("get", reverse("booking:campaign_patient_remove", args=[pk, patient.pk])),
        ("post", reverse("booking:campaign_patient_remove", args=[pk, patient.pk])),
    ]


def test_another_practices_campaign_is_404_everywhere(
    client_for, other_practice_staff, other_practice_admin, practice_a, draft
):
    patient = PatientFactory(practice=practice_a)
    CampaignPatient.objects.create(campaign=draft, patient=patient)
    for user in (other_practice_staff, other_practice_admin):
        client = client_for(user)
        for method, url in cohort_urls(draft, patient):
            assert getattr(client, method)(url).status_code == 404, (user, method, url)
    assert entries(draft) == {patient.pk}


def test_a_token_cannot_be_replayed_on_another_practices_campaign(
    client_for, practice_admin, other_practice_admin, practice_a, draft, other_campaign
):
    patient = PatientFactory(practice=practice_a)
    page = client_for(practice_admin).get(reverse("booking:cohort_all", args=[draft.pk]))
    client = client_for(other_practice_admin)
    response = client.post(
        reverse("booking:cohort_add", args=[other_campaign.pk]),
        {"selection": selection_token(page)},
    )
    assert response.status_code == 302
    assert entries(other_campaign) == set()
    assert patient.pk not in entries(draft)


@pytest.mark.parametrize(
    "role",
    ["practice_admin", "practice_staff", "pcn_tracer", "pcn_admin", "no_membership_user"],
)
def test_cohort_pages_follow_the_campaign_edit_rights(request, client_for, draft, role):
    """Whoever may edit the campaign may choose its patients; nobody else can."""
    client = client_for(request.getfixturevalue(role))
    edit = client.get(reverse("booking:campaign_edit", args=[draft.pk])).status_code
    start = client.get(reverse("booking:cohort_start", args=[draft.pk])).status_code
    pick = client.get(reverse("booking:cohort_pick", args=[draft.pk])).status_code
    assert start == pick == edit


def test_practice_staff_can_add_and_remove(client_for, practice_staff, practice_a, draft):
    patient = PatientFactory(practice=practice_a, date_of_birth=date(1940, 1, 1))
    client = client_for(practice_staff)
    page = client.get(
        reverse("booking:cohort_age", args=[draft.pk]), {"age_from": "80", "on": "2027-03-31"}
    )
    client.post(
        reverse("booking:cohort_add", args=[draft.pk]), {"selection": selection_token(page)}
    )
    assert entries(draft) == {patient.pk}
    client.post(reverse("booking:campaign_patient_remove", args=[draft.pk, patient.pk]))
    assert entries(draft) == set()


def test_signed_out_users_are_sent_to_sign_in(client, draft):
    response = client.get(reverse("booking:cohort_start", args=[draft.pk]))
    assert response.status_code == 302
    assert "login" in response["Location"]


def test_a_long_error_report_shows_the_first_rows_and_says_so(
    client_for, practice_admin, practice_a, draft
):
    patient = PatientFactory(practice=practice_a, nhs_number=nhs_number(1))
    rows = [invalid_check_digit(nhs_number(n)) for n in range(10, 70)] + [patient.nhs_number]
    page = client_for(practice_admin).post(
        reverse("booking:cohort_csv", args=[draft.pk]), {"file": csv_upload(nhs_csv(*rows))}
    )
    content = text_of(page)
    assert 'data-testid="count-errors"> <strong class="nhsuk-tag nhsuk-tag--red">60<' in content
    assert "Showing the first 50 of 60 rows with errors." in content
    assert "Add 1 patient from the file patients.csv?" in content


def test_the_csv_upload_and_adding_check_csrf(practice_admin, draft):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(practice_admin)
    upload = client.post(
        reverse("booking:cohort_csv", args=[draft.pk]),
        {"file": csv_upload(nhs_csv(nhs_number(1)))},
    )
    assert upload.status_code == 403
    assert client.post(reverse("booking:cohort_add", args=[draft.pk])).status_code == 403


# --- a removed patient is cut off -------------------------------------------------------------


def test_a_removed_patient_is_reminded_of_nothing(campaign, practice_admin, patients):
    from datetime import time

    from booking import invites
    from booking.tasks import send_invites

    Campaign.objects.filter(pk=campaign.pk).update(
        sending_from=time(0, 0), sending_until=time(23, 59, 59, 999999), chaser_count=2
    )
    campaign.refresh_from_db()
    invites.invites_create(campaign=campaign, patients=patients[:2], user=practice_admin)
    send_invites.delay(list(campaign.invites.values_list("pk", flat=True)))
    later = timezone.now() + timedelta(days=30)

    def due() -> set[int]:
        return set(
            invites.invites_due_reminder(campaign=campaign, now=later).values_list(
                "patient_id", flat=True
            )
        )

    assert due() == {patients[0].pk, patients[1].pk}
    campaign_patient_remove(user=practice_admin, campaign=campaign, patient=patients[0])
    assert due() == {patients[1].pk}


def test_a_patient_removed_after_the_booking_checks_is_not_booked(
    mirrored, practice_admin, patients
):
    from booking import services
    from booking.models import Slot
    from booking.services import BookingError

    slot = Slot.objects.filter(connection__organisation=mirrored.practice).first()
    assert slot is not None
    # The removal commits between the checks and the slot's lock.
    CampaignPatient.objects.filter(campaign=mirrored, patient=patients[0]).delete()
    with pytest.raises(BookingError, match="not on the campaign's list"):
        services._reserve(
            campaign=mirrored,
            patient=patients[0],
            slot=slot,
            booked_by=practice_admin,
            via="staff",
            pcn_consent=False,
            replacing=None,
        )
    assert not Booking.objects.filter(patient=patients[0]).exists()
