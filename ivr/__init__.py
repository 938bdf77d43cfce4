"""The IVR: opening hours, and the interpreter that runs a menu over an abstract call I/O."""
