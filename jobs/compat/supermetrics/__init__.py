"""Supermetrics' query API over the portal's SQL commands (docs/compat/supermetrics.md).

- ``GET``/``POST /query/data/json`` starts a query — the saved query named by ``ds_id``
  (``qry_<id>``, its id or its name) with its parameters, or the ad-hoc SQL of ``query`` on the
  data source ``ds_id`` names — and answers its data when it ended within ``sync_timeout``
  seconds. ``schedule_id`` is the command's ``submission_id``: a repeat answers the same
  command. Without ``ds_id`` and ``query`` it reads the query ``schedule_id`` names, which is
  how the official client's ``queries.get_results`` polls.
- ``GET /query/status?json={"schedule_id": …}`` answers status, progress, the account's queue
  and (on SUCCESS) one page of rows, ``offset_start`` .. ``offset_end`` inclusive.

Parameters come from the ``json`` parameter (a JSON object) or flat parameters (``api_key``
too); errors are RFC 9457 problems whose ``title`` and ``detail`` keep to the characters
Supermetrics documents; an unknown id is ``404 {"error": "STATUS_NOT_FOUND"}``. Everything
else — rights, idempotency, audit, status words, pages, rate limits — is the portal's own
(:mod:`jobs.submission`, :mod:`jobs.statuses`, :mod:`jobs.reads`, :mod:`jobs.results`,
:mod:`accounts.throttling`). Reading requests: :mod:`.request`; replies: :mod:`.views`.
"""

from django.urls import path

from jobs.compat.supermetrics.views import QueryDataView, QueryStatusView

urlpatterns = [
    path("query/data/json", QueryDataView.as_view(), name="supermetrics-data"),
    path("query/status", QueryStatusView.as_view(), name="supermetrics-status"),
]
