"""Networks: bridges, addresses, name resolution, firewall."""
