"""``python -m veeva_marketo_sync``: the same as the ``vmsync`` command."""

from .cli import main

main()
