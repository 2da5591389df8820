"""The container runtime: namespaces, mounts, cgroups, supervision."""
