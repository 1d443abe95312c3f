"""The campaign loop after a scoring run: export, contacts (see docs/campaigns.md)."""
