"""The report's jinja2 templates and stylesheet; shipped in the wheel as ``repaudit.templates``."""
