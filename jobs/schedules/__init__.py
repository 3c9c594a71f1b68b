"""Schedules: commands on a calendar (see docs/schedules.md).

``model`` holds the row, ``slots`` the cron and time-zone arithmetic (croniter, zoneinfo),
``definition`` what a run submits, ``scheduler`` the tick that the workers run, and
``service`` the changes every surface makes (create, update, pause, resume).
"""
