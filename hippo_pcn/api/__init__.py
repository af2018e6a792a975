"""hippo-pcn's REST API (issue 15): authentication by session or per-user API token,
throttles, RFC 9457 problem details for every error, cursor pagination and the
OpenAPI schema. The endpoints themselves live in each app's `api` package
(tracing.api, booking.api, emis_integration.api), mounted under /api/v1/."""
