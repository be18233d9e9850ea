"""The training runtime: the job, the orbit loop, the per-replica steps, strategies, optimizer, precision, accumulation, freezing and initialisation."""
