"""The recorder role: the cameras this node holds leases for, one supervisor each."""
