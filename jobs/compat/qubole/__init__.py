"""Qubole's command, role and group API under ``/api/v1.2/``, so ``qds-sdk`` and its ``qds.py``
CLI work unchanged (see ``docs/compat/qubole.md``).

A thin representation over the surface layer: submissions go through
:mod:`jobs.submission`, reads through :mod:`jobs.reads`, cancel through :mod:`jobs.lifecycle`,
results through :mod:`jobs.results`, status words through :mod:`jobs.statuses`, rights through
:mod:`accounts.policy` and changes of roles and groups through :mod:`accounts.roles`.

- ``base``: the view base class and Qubole's error format;
- ``representation``: a command as Qubole shows it;
- ``submit``: a Qubole command body as a portal definition;
- ``commands``: the command endpoints;
- ``policies``: Qubole's policy statements <-> the portal's policies (one table);
- ``access``: the role endpoints and what role and group endpoints share;
- ``groups``: the group endpoints;
- ``urls``: the routes, without trailing slashes;
- ``docs``: serializers that describe the JSON in the OpenAPI document.
"""
