"""Key-value object stores: what the document backends and the blob store are built on."""
