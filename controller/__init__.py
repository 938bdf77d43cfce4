"""The controller: wires the core to a PBX (real, fake or simulated), and the command line."""
