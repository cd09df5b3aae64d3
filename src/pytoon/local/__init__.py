"""Local mode: the whole system in one process on embedded AWS (moto), driven by the repo's own
template.yaml and ASL. Nothing here is used in AWS."""
