"""FasterAPI apps measured by the bench (written against the issue-3 API)."""
