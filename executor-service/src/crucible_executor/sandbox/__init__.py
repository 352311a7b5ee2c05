"""Sandboxes that run one untrusted program each, and what their backends share."""
