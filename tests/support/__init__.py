"""What the tests need that is not a test: real servers and processes."""
