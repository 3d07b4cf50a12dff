"""Secrets: versioned KV, leases, and engines that create credentials on demand."""
