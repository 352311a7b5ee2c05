"""Wire schemas: what the services send each other and what the API serves."""
