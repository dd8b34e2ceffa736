"""Hosts on one machine: Linux network namespaces joined by bridges, and partitions between them.

Three networks, one bridge each: `front` (HTTP; the test is the proxy in front, at .1),
`redis` and `pg` (the data stores). Every application host has a leg on each network, so a
host can be cut from Redis alone, from PostgreSQL alone, or from everything. Three ways to cut
(CUTS), each healed by heal():
- `link`: the leg comes off its bridge: the host's interface stays up and its packets go
  nowhere, as when a switch port or a link dies;
- `blackhole`: nftables in the host drops every packet in and out of that interface, without a
  reset or an ICMP error (a firewall that drops, a neighbour black-holed by a bad route);
- `loss`: nftables drops a random LOSS_PERCENT of them, both ways (tc netem would do the same;
  nftables's numgen needs no extra kernel module).
Nothing answers, nothing is refused; TCP retransmits until the heal, which is the partition
applications get wrong. The machine's own namespace sits at .1 on every network, so the test
reaches every host and both stores whatever is cut.
"""

import shutil
import subprocess
from dataclasses import dataclass

PREFIX = "ipt"
NETWORKS = {"front": "10.77.3", "redis": "10.77.1", "pg": "10.77.2"}
CUTS = ("link", "blackhole", "loss")
LOSS_PERCENT = 30
NFT_TABLE = "ipt_cut"


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


def why_unavailable() -> str | None:
    """None when namespaces can be made here; otherwise the reason."""
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is missing"
    if shutil.which("nft") is None:
        return "the `nft` command (nftables) is missing"
    probe = f"{PREFIX}-probe"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"`ip netns add` failed (needs root): {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


@dataclass(frozen=True)
class Host:
    name: str
    octet: int
    networks: tuple[str, ...]

    @property
    def namespace(self) -> str:
        return f"{PREFIX}-{self.name}"

    def address(self, network: str) -> str:
        return f"{NETWORKS[network]}.{self.octet}"

    def leg(self, network: str) -> str:
        return f"{PREFIX}-{self.name}-{network[0]}"  # the bridge side; at most 15 characters

    def command(self, *args: str) -> list[str]:
        return ["ip", "netns", "exec", self.namespace, *args]


class Network:
    def __init__(self, hosts: list[Host]) -> None:
        self.hosts = {host.name: host for host in hosts}

    def bridge(self, network: str) -> str:
        return f"{PREFIX}-br-{network}"

    def up(self) -> None:
        self.down()  # what an interrupted run left behind
        for network, prefix in NETWORKS.items():
            ip("link", "add", self.bridge(network), "type", "bridge")
            ip("addr", "add", f"{prefix}.1/24", "dev", self.bridge(network))
            ip("link", "set", self.bridge(network), "up")
        for host in self.hosts.values():
            ip("netns", "add", host.namespace)
            ip("-n", host.namespace, "link", "set", "lo", "up")
            for network in host.networks:
                inside = f"eth-{network}"
                ip("link", "add", host.leg(network), "type", "veth", "peer", "name", inside)
                ip("link", "set", inside, "netns", host.namespace)
                ip(
                    "-n",
                    host.namespace,
                    "addr",
                    "add",
                    f"{host.address(network)}/24",
                    "dev",
                    inside,
                )
                ip("-n", host.namespace, "link", "set", inside, "up")
                ip("link", "set", host.leg(network), "master", self.bridge(network), "up")

    def down(self) -> None:
        for host in self.hosts.values():
            subprocess.run(["ip", "netns", "del", host.namespace], capture_output=True)
            # A namespace outlives its name while anything still holds it: take the legs now.
            for network in host.networks:
                subprocess.run(["ip", "link", "del", host.leg(network)], capture_output=True)
        for network in NETWORKS:
            subprocess.run(["ip", "link", "del", self.bridge(network)], capture_output=True)

    def cut(self, name: str, *networks: str, how: str = "link") -> None:
        host = self.hosts[name]
        networks = networks or host.networks
        if how == "link":
            for network in networks:
                ip("link", "set", host.leg(network), "nomaster")
            return
        verdict = "drop" if how == "blackhole" else f"numgen random mod 100 < {LOSS_PERCENT} drop"
        rules = [f"add table inet {NFT_TABLE}"]
        for chain, hook, direction in (("in", "input", "iifname"), ("out", "output", "oifname")):
            rules.append(
                f"add chain inet {NFT_TABLE} {chain} "
                f"{{ type filter hook {hook} priority 0; policy accept; }}"
            )
            rules += [
                f'add rule inet {NFT_TABLE} {chain} {direction} "eth-{network}" {verdict}'
                for network in networks
            ]
        subprocess.run(
            host.command("nft", "-f", "-"), input="\n".join(rules), text=True, check=True
        )

    def heal(self, name: str, *networks: str) -> None:
        host = self.hosts[name]
        for network in networks or host.networks:
            ip("link", "set", host.leg(network), "master", self.bridge(network))
        flush = host.command("nft", "delete", "table", "inet", NFT_TABLE)
        subprocess.run(flush, capture_output=True)  # fails harmlessly when nothing was dropped
