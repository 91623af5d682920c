"""repaudit: re-run a paper's training under many seeds and say whether its claim holds."""

__version__ = "0.1.0"
