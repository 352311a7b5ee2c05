"""HTTP routes: one module per resource, plus the health checks."""
