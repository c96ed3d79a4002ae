"""The live engine: real servers on loopback driven by the shared policy (DESIGN.md section 2)."""
