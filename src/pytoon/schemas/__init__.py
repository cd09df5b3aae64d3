"""JSON Schemas of the V2 scene graph and timeline (data files)."""
