"""The contract suite: one set of tests over every kind of store."""
