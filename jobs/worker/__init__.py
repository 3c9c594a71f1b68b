"""The worker side: everything that runs on the machines that execute commands.

The flow, one module a step::

    loop (loop.py: database engine; celery_engine.py: Celery)
      -> claim a task "run command N" (tasks.py) -> lifecycle.claim
      -> run (run.py: CommandRun, the supervisor and executor hooks)
           shell.py (a shell command in its sandbox) | sql.py (a SQL command's result chunks)
      -> finish (lifecycle.finish, from CommandRun)
    and around it: lifecycle.reap and leftovers.py (processes of runs that are over).
"""
