"""The SQL side of storage: column types, models, engine and the queries on them."""
