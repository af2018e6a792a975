"""The tracing part of the REST API (/api/v1/): the worklist's tasks and their
actions, poll health and the dashboard's figures. Thin: every view calls the
selectors and services the admin uses."""

# For SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"]: fields named "status", "source"
# or "reason" elsewhere in the API have other choices, so each set is named.
ENUM_NAME_OVERRIDES = {
    "TracingTaskStatusEnum": "tracing.models.TaskStatus",
    "TracingTaskSourceEnum": "tracing.models.TaskSource",
    "CannotTraceReasonEnum": "tracing.models.CannotTraceReason",
}
