"""The typed Python API that the CLI and build scripts call."""
