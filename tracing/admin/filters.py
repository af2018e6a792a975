"""The worklist's list filters. Each parses its query parameter and applies the
rule through a selector (tracing.selectors: tracing_tasks_with_status,
tracing_tasks_due, tracing_tasks_matching), the same ones the API's task list
uses, so the two never disagree."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.db.models import QuerySet
from django.http import HttpRequest

from hippo_pcn.organisations.roles import OrganisationKind
from hippo_pcn.organisations.selectors import organisations_for_user

from .. import selectors
from ..models import ACTIVE_STATUSES, TaskSource, TaskStatus


class StatusFilter(admin.SimpleListFilter):
    """Defaults to what tracers work on: open and claimed tasks."""

    title = "status"
    parameter_name = "status"
    DEFAULT = "active"
    MINE = "mine"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            (self.DEFAULT, "To do (open or claimed)"),
            (self.MINE, "Claimed by me"),
            *[(value, label) for value, label in TaskStatus.choices],
            (selectors.ALL_STATUSES, "All"),
        ]

    def choices(self, changelist: ChangeList) -> Iterator[Any]:
        current = self.value() or self.DEFAULT
        for lookup, title in self.lookup_choices:
            yield {
                "selected": current == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value() or self.DEFAULT
        statuses: tuple[str, ...] = ()
        if value in TaskStatus.values:
            statuses = (value,)
        elif value not in (self.DEFAULT, self.MINE):
            statuses = (selectors.ALL_STATUSES,)  # "all", or a value it does not know
        return selectors.tracing_tasks_with_status(
            queryset=queryset,
            statuses=statuses,
            mine=value == self.MINE,
            user_id=request.user.pk,
        )


class DueFilter(admin.SimpleListFilter):
    title = "due"
    parameter_name = "due"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return list(selectors.TASK_DUE_CHOICES)

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        # Overdue, due today and within 24 hours are TracingTaskQuerySet's rules,
        # the same ones the digest and the dashboard count.
        return selectors.tracing_tasks_due(queryset=queryset, due=self.value())


class _OrganisationFilter(admin.SimpleListFilter):
    argument = ""  # tracing_tasks_matching's keyword for the organisation's id
    kinds: tuple[str, ...] = (OrganisationKind.PCN, OrganisationKind.PRACTICE)

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        orgs = organisations_for_user(user=request.user).filter(kind__in=self.kinds)
        return [(str(pk), name) for pk, name in orgs.order_by("name").values_list("pk", "name")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value and value.isdigit():
            organisation: dict[str, Any] = {self.argument: int(value)}
            return selectors.tracing_tasks_matching(queryset=queryset, **organisation)
        return queryset


class OwnerFilter(_OrganisationFilter):
    title = "owner"
    parameter_name = "owner"
    argument = "owner_id"


class PcnFilter(_OrganisationFilter):
    title = "PCN"
    parameter_name = "pcn"
    argument = "pcn_id"
    kinds = (OrganisationKind.PCN,)


class PracticeFilter(_OrganisationFilter):
    title = "registered practice"
    parameter_name = "practice"
    argument = "practice_id"
    kinds = (OrganisationKind.PRACTICE,)


class SiteFilter(admin.SimpleListFilter):
    title = "site"
    parameter_name = "site"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        """The sites of the open and claimed tasks of one PCN: the user's, or the one
        chosen in the PCN filter. Someone who sees several PCNs (support) chooses a
        PCN first: a list of every PCN's sites would be long, mixed and slow."""
        visible = selectors.tracing_tasks_for_user(user=request.user).filter(
            status__in=ACTIVE_STATUSES
        )
        chosen = request.GET.get(PcnFilter.parameter_name, "")
        if chosen.isdigit():
            visible = visible.filter(pcn_id=int(chosen))
        elif selectors.pcns_for_user(user=request.user)[:2].count() > 1:
            # Only the site already chosen (from a link), so it still applies and shows.
            chosen_site = self.value()
            return [(chosen_site, chosen_site)] if chosen_site else []
        sites = (
            visible.exclude(site_name="")
            .order_by("site_name")
            .values_list("site_name", flat=True)
            .distinct()[:100]
        )
        return [(site, site) for site in sites]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return selectors.tracing_tasks_matching(queryset=queryset, site=self.value())


class SourceFilter(admin.SimpleListFilter):
    title = "source"
    parameter_name = "source"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return list(TaskSource.choices)

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return selectors.tracing_tasks_matching(queryset=queryset, source=self.value())
