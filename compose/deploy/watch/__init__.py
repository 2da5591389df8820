"""``watch``: edits on the host carried into the services' containers (``develop.watch``).

``loop`` runs it; ``rules`` reads the rules and matches paths, ``work`` turns changes into each
service's work, ``notify`` watches the host, ``worker`` acts for one service, ``tracker`` follows the
containers and their logs, ``feedback`` words the lines. The files are written into the containers by
``engine.runtime.inject``.
"""
