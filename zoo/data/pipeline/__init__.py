"""Raw examples to training batches: sharding across workers (`sharding`),
packing documents into full rows (`packing`), batches of similar lengths
(`bucketing`) and the shuffled, preprocessed input stream (`stream`).

Example:
    >>> from zoo.data.pipeline.stream import training_dataset
    >>> ds = training_dataset(paths, task, global_batch_size=32, seed=0)
"""
