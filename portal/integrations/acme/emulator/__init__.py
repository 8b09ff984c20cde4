"""The Acme Cases emulator: the API, OAuth server and webhooks socdesk's Acme vendor talks to.

``create_emulator()`` in :mod:`.app` builds it; the contract it implements is in the module
docstrings of :mod:`.api`, :mod:`.admin` and :mod:`.webhooks`.
"""
