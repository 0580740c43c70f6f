"""``python -m edgetrain``: the ``edgetrain`` command line."""

from .cli import main

main()
