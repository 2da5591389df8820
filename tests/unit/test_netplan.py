import pytest

from compose.deploy.netplan import plan
from compose.errors import ConfigErrors


def test_names_labels_and_ipam(proj):
    proj.write({"compose.yaml": """\
        name: shop
        services:
          web: {image: x, networks: [front, back, shared]}
        networks:
          front:
            internal: true
            labels: {team: web}
          back:
            name: custom-back
            ipam: {config: [{subnet: 10.213.70.0/24, gateway: 10.213.70.254, ip_range: 10.213.70.128/25}]}
          shared:
            external: true
            name: corp-net
        """})
    reqs = {r.key: r for r in plan(proj.load().project)}
    assert (reqs["front"].name, reqs["front"].internal) == ("shop_front", True)
    assert reqs["front"].labels["com.docker.compose.project"] == "shop"
    assert reqs["front"].labels["com.docker.compose.network"] == "front" and reqs["front"].labels["team"] == "web"
    assert (reqs["back"].name, reqs["back"].subnet, reqs["back"].gateway, reqs["back"].ip_range) == \
        ("custom-back", "10.213.70.0/24", "10.213.70.254", "10.213.70.128/25")
    assert (reqs["shared"].name, reqs["shared"].external) == ("corp-net", True)


@pytest.mark.parametrize("network,message", [
    ("{driver: overlay}", 'networks.n.driver: driver "overlay" is not supported'),
    ("{enable_ipv6: true}", "networks.n: IPv6 networks are not supported yet"),
    ("{ipam: {config: [{subnet: 'fd00::/64'}]}}", "networks.n.ipam: IPv6 subnet fd00::/64"),
])
def test_refused_clearly(proj, network, message):
    proj.write({"compose.yaml": f"services:\n  web: {{image: x, networks: [n]}}\nnetworks:\n  n: {network}\n"})
    with pytest.raises(ConfigErrors, match=message):
        plan(proj.load().project)
