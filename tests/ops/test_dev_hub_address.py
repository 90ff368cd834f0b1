"""Where the ops hub finds the dev hub (kit.peers.hub_url): explicit URL, else dev's own
configured host and port, as every process of `hubgraph up` sees them."""

from __future__ import annotations

from subgraphs.core.kit.peers import hub_url


def test_an_explicit_url_wins() -> None:
    assert hub_url("dev", {"HUBGRAPH_DEV_URL": "https://dev.example.org/"}) == (
        "https://dev.example.org"
    )


def test_otherwise_the_hub_s_own_host_and_port() -> None:
    assert hub_url("dev", {}) == "http://127.0.0.1:8001"
    assert hub_url("dev", {"HUBGRAPH_DEV_PORT": "9101"}) == "http://127.0.0.1:9101"
    # a hub bound to every interface is reached on loopback
    assert hub_url("dev", {"HUBGRAPH_DEV_HOST": "0.0.0.0"}) == "http://127.0.0.1:8001"
    assert hub_url("dev", {"HUBGRAPH_DEV_HOST": "::"}) == "http://[::1]:8001"
