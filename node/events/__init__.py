"""The event model: typed data, hashing and signatures. Pure: no store, no chain, no web."""
