"""Source parsers: bytes and headers in, entries out. They never see a URL to fetch."""
