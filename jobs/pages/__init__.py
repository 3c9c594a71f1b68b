"""The HTML pages for the account's members (docs/pages.md): thin views over the same read,
submit, lifecycle and policy modules as the API, rendered from ``templates/``."""
