"""This node's identity: a unique id kept in the data dir, and clone detection through S3."""

from appliance.node.identity import (
    NodeIdentity,
    load_identity,
    node_identity,
    node_key,
    same_node,
    split_node,
)

__all__ = ["NodeIdentity", "load_identity", "node_identity", "node_key", "same_node",
           "split_node"]
