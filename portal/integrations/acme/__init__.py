"""Acme Cases: socdesk's built-in test vendor, a small case-management API that proves the sync engine.

It has everything the real vendors have (OAuth with PKCE and rotating refresh tokens, cursor
paging, comments with client-chosen ids, closures, webhooks, 429s and outages) in the simplest
shape, so the engine's rules are tested here once and each real vendor only adds its mapping.
"""
