"""cpkit's tools: the spec parser, the verdict engine and validation (tools/README.md)."""
