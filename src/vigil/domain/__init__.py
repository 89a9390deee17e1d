"""Pure types and rules of the domain. Imports nothing else of Vigil and does no I/O."""
