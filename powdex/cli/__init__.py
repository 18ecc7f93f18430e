"""The ``powdex`` command line."""
