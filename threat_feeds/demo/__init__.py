"""Offline demo feed: a deterministic synthetic STIX 2.1 generator and CRISP's own TAXII 2.1 server."""
