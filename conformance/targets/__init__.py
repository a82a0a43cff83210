"""Small stand-in servers used to develop and test the conformance suites."""
