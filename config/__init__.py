"""The YAML an administrator edits, and the schema and loader that read it."""
