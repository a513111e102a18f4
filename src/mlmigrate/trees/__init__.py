"""Tree copies: any folder or bucket to any other, on the artifacts' machinery.

``pair`` opens and checks both ends; ``ledger`` adds to the artifact ledger what a tree copy
created, replaced or deleted (for rollback); ``copying`` runs a copy (resumable, verified);
``survey`` plans and verifies; ``app_ef`` checks the app_ef ``data/`` layout and rewrites its
``project_path``; ``archive`` backs a tree up and restores it; ``undo`` rolls a copy back.
"""
