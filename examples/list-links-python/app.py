"""nsplug example plugin in Python: lists the links and addresses of namespaces.

The same plugin as examples/list-links-rust, line for line: command `list` (or `run`); input
empty or `{"namespaces": ["blue", "red"]}`; without names it lists every namespace the host
grants it. A namespace the host refuses or cannot read is reported with its error code
(`{"name": "red", "error": "denied-by-policy"}`) and the others are still listed. The output is
compact JSON with sorted keys, byte for byte what the Rust plugin prints.

Host calls that fail raise `componentize_py_types.Err` whose `value` is the WIT `error-code`
(or, for a batch, a `batch-error` with the failing request's index and code).
"""

import json

from wit_world import exports
from componentize_py_types import Err
from wit_world.imports import batch, log, namespace, types


def code_name(code: types.ErrorCode) -> str:
    """The WIT name of an error code: `ErrorCode.DENIED_BY_POLICY` -> `denied-by-policy`."""
    return code.name.lower().replace("_", "-")


def plugin_error(code: str, message: str) -> Err:
    return Err(types.PluginError(code=code, message=message, host_error=None))


def requested_namespaces(input: str) -> list[str]:
    if not input.strip():
        return namespace.granted()
    try:
        doc = json.loads(input)
    except ValueError as e:
        raise plugin_error("bad-input", f"input is not JSON: {e}")
    if not isinstance(doc, dict) or "namespaces" not in doc:
        return namespace.granted()
    names = doc["namespaces"]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise plugin_error("bad-input", "`namespaces` must be a list of strings")
    return names


def link_json(link: types.Link) -> dict:
    return {
        "index": link.index,
        "name": link.name,
        "kind": link.kind,
        "mtu": link.mtu,
        "address": link.address,
        "up": link.up,
        "oper_state": link.oper_state,
    }


def address_json(address: types.Address) -> dict:
    return {
        "index": address.index,
        "address": address.address,
        "prefix_len": address.prefix_len,
        "scope": address.scope,
    }


def describe(name: str) -> dict:
    try:
        with namespace.Netns.open(name) as ns:
            responses = batch.run(ns, [batch.Request_LinkList(), batch.Request_AddressList()])
    except Err as e:
        # `open` fails with an error-code, the batch with a batch-error carrying one.
        code = e.value.code if isinstance(e.value, namespace.BatchError) else e.value
        return {"name": name, "error": code_name(code)}
    links, addresses = [], []
    for response in responses:
        if isinstance(response, batch.Response_Links):
            links = [link_json(link) for link in response.value]
        elif isinstance(response, batch.Response_Addresses):
            addresses = [address_json(a) for a in response.value]
    return {"name": name, "links": links, "addresses": addresses}


class Handler(exports.Handler):
    def declare(self) -> types.Requirements:
        return types.Requirements(classes=[types.OpClass.READ], host_namespace=False)

    def handle(self, command: str, input: str) -> str:
        if command not in ("list", "run"):
            raise plugin_error(
                "unknown-command",
                f"unknown command {json.dumps(command)}; this plugin knows `list` (or `run`)",
            )
        names = requested_namespaces(input)
        log.log(log.Level.INFO, f"listing {len(names)} namespaces")
        doc = {"namespaces": [describe(name) for name in names]}
        return json.dumps(doc, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
