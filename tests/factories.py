import factory
from django.contrib.auth import get_user_model

from hippo_pcn.organisations.models import Membership, Organisation
from hippo_pcn.organisations.roles import OrganisationKind, Role

TEST_PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name", locale="en_GB")
    last_name = factory.Faker("last_name", locale="en_GB")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.nhs.uk")

    @factory.post_generation
    def password(self, create, extracted, **kwargs):
        self.set_password(extracted or TEST_PASSWORD)
        if create:
            self.save(update_fields=["password"])


class PcnFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organisation
        django_get_or_create = ("ods_code",)

    kind = OrganisationKind.PCN
    ods_code = factory.Sequence(lambda n: f"U{50000 + n:05d}")
    name = factory.Sequence(lambda n: f"Test PCN {n}")


class PracticeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organisation
        django_get_or_create = ("ods_code",)

    kind = OrganisationKind.PRACTICE
    ods_code = factory.Sequence(lambda n: f"P{50000 + n:05d}")
    name = factory.Sequence(lambda n: f"Test Surgery {n}")
    phone = factory.Sequence(lambda n: f"01632 {960000 + n % 1000}")
    pcn = None


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organisation = factory.SubFactory(PracticeFactory)
    role = Role.PRACTICE_STAFF
