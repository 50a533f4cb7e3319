"""Vigil as a service, on top of the pipeline: a watched camera (`watch`), its alerts (`alerts`), where they go
(`sinks`), the off-thread model work they need (`verifier`), the registry of running cameras (`registry`) and the
cameras a config file names (`config`)."""
