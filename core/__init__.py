"""Settings, shared dataclasses and enums, id derivation and Temporal client setup."""
