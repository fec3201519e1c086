"""Real product data in, normalized :class:`sandbox.catalog.Product` records out."""
