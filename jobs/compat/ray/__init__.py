"""The Ray / openYuanrong job API shape (``/api/version``, ``/api/jobs/…``, ``/api/packages/…``):
what Ray's ``JobSubmissionClient`` and the ``ray job`` CLI speak, as a representation over the
portal's submission service, read path, lifecycle and logs. See docs/compat/ray.md.

- :mod:`.representation`: a command as Ray's ``JobDetails``; the error-type vocabulary.
- :mod:`.serializers`: what a submission may hold, translated to the portal's definition.
- :mod:`.views`: the HTTP endpoints, answering errors as Ray does (plain text).
- :mod:`.tail`: ``/api/jobs/{id}/logs/tail``, the WebSocket that follows a log.
"""
