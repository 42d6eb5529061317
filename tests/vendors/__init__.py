"""Strict loopback doubles of vendors' APIs: each does what its vendor documents, and refuses the rest."""
