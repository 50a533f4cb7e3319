"""Frame sources, the ingestion loop, events, and the engine facade with its per-stream sessions."""
