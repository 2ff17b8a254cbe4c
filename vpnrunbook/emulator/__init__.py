"""An embedded emulator of the Azure Resource Manager endpoints the runbooks use (the default target).

Reach it with ``vpnrunbook.azure.connect()`` (in-process) or ``vpnrunbook emulator serve`` (HTTPS on
127.0.0.1). Layout: ``app`` (WSGI entry), ``routes``, ``handlers/`` (one module per resource type),
``models``, ``errors`` (one class per ARM code), ``lro``, ``store`` (SQLite), ``control``,
``transport`` (in-process azure-core transport), ``server`` (HTTPS), ``cli``.
"""
