"""The Temporal workers a process hosts (hosting/workers.py)."""
