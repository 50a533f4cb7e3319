"""Token dropping and compaction: pure functions on tensors."""
