"""Data files to raw examples: row parsers per format (`rows`), which column holds
each field (`columns`), file lists and globs (`files`), the Python reader with
file:line errors (`readers`) and the in-graph tf.data reader (`native`).

Example:
    >>> from zoo.data.formats.readers import read_examples
    >>> ds = read_examples(["sst2/train.tsv"], fields=("text", "label"))
"""
