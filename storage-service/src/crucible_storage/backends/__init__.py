"""Where evaluations are kept: implementations of `StorageBackend`."""
