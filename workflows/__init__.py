"""One workflow per file: deterministic orchestration only, no IO."""
