"""CRISP's store served as a TAXII 2.1 server (SPEC §6 `/taxii2/`); see docs/ARCHITECTURE.md."""
