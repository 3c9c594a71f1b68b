"""Executors: run one command (shell, SQL) under supervision, free of Django."""
