"""Vendor emulators: local, scriptable stand-ins for the tools socdesk connects to.

An emulator is a plain Litestar app (no sessions, no CSRF: it is a foreign system) built from
the reusable pieces here: an OAuth 2.0 authorization server (:mod:`.oauth_server`), fault
injection (:mod:`.faults`), a log of the requests it received (:mod:`.recording`), the admin
routes that drive all of it (:mod:`.admin`), a settable clock (:mod:`.clock`), and the app
assembly with its error shape and middleware (:mod:`.app`, which also serves one with uvicorn).
Each vendor's emulator adds only its own API; :mod:`.catalog` lists them for ``socdesk emulate``.
"""
