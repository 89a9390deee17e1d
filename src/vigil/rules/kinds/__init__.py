"""Action types, one module each: its options model bound to its executor (see
``vigil.rules.registry``). Every module here is loaded by ``load_action_kinds``."""
