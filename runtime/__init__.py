"""carbonedge runtime: types, config, pipeline, summaries, store and the CLI."""

__version__ = "0.1.0"
