"""A tree of objects (any folder, bucket or container prefix) as one endpoint of a tree copy.

``tree://…`` and ``tree+s3://…`` URIs name trees (``uris``); :class:`~.store.TreeStore` is the
registry's record class for them. A tree holds no MLflow data: the tree commands
(:mod:`mlmigrate.trees`) copy, verify, back up and restore its objects as they are.
"""
