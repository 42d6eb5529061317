"""Activity classes grouped by side effect, each taking its IO client in its constructor."""
