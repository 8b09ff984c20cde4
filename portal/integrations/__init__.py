"""Vendor integrations: one folder per vendor (client, mapping, manifest, emulator) on shared bases."""
