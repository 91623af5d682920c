"""`python -m repaudit` is the `repaudit` command."""

from repaudit.cli import main

main()
