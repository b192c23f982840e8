// nsplug example plugin in JavaScript: lists the links and addresses of namespaces.
//
// The same plugin as examples/list-links-rust: command `list` (or `run`); input empty or
// `{"namespaces": ["blue", "red"]}`; without names it lists every namespace the host grants it.
// A namespace the host refuses or cannot read is reported with its error code
// (`{"name": "red", "error": "denied-by-policy"}`) and the others are still listed. The output
// is compact JSON with sorted keys, byte for byte what the Rust plugin prints.
//
// Bindings (componentize-qjs): a host function returning `result<T, E>` returns `T` or throws
// an `Error` whose `payload` is `E`: the error code as its case name ("denied-by-policy"), or
// for `batch.run` a `batch-error` record `{ index, code }`. An export returns `T` or throws `E`
// itself (here a `plugin-error` record). Records use camelCase keys, variants are
// `{ tag, val }`, enums are their case names.

import namespace from "nsplug:netns/namespace@0.1.2";
import batch from "nsplug:netns/batch@0.1.2";
import log from "nsplug:netns/log@0.1.2";

function pluginError(code, message) {
  return { code, message, hostError: null };
}

// JSON with sorted keys and no spaces, as serde_json prints a `json!` value.
function canonical(value) {
  if (Array.isArray(value)) {
    return `[${value.map(canonical).join(",")}]`;
  }
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

function requestedNamespaces(input) {
  if (input.trim() === "") {
    return namespace.granted();
  }
  let doc;
  try {
    doc = JSON.parse(input);
  } catch (e) {
    throw pluginError("bad-input", `input is not JSON: ${e.message}`);
  }
  const names = doc !== null && typeof doc === "object" && !Array.isArray(doc) ? doc.namespaces : undefined;
  if (names === undefined) {
    return namespace.granted();
  }
  if (!Array.isArray(names) || !names.every((n) => typeof n === "string")) {
    throw pluginError("bad-input", "`namespaces` must be a list of strings");
  }
  return names;
}

const linkJson = (l) => ({
  index: l.index,
  name: l.name,
  kind: l.kind ?? null,
  mtu: l.mtu ?? null,
  address: l.address ?? null,
  up: l.up,
  oper_state: l.operState,
});

const addressJson = (a) => ({
  index: a.index,
  address: a.address,
  prefix_len: a.prefixLen,
  scope: a.scope,
});

function describe(name) {
  let ns;
  try {
    ns = namespace.Netns.open(name);
  } catch (e) {
    return { name, error: e.payload };
  }
  let responses;
  try {
    responses = batch.run(ns, [{ tag: "link-list" }, { tag: "address-list" }]);
  } catch (e) {
    return { name, error: e.payload.code };
  } finally {
    ns[Symbol.dispose]();
  }
  let links = [];
  let addresses = [];
  for (const response of responses) {
    if (response.tag === "links") {
      links = response.val.map(linkJson);
    } else if (response.tag === "addresses") {
      addresses = response.val.map(addressJson);
    }
  }
  return { name, links, addresses };
}

export const handler = {
  declare() {
    return { classes: ["read"], hostNamespace: false };
  },

  handle(command, input) {
    if (command !== "list" && command !== "run") {
      throw pluginError(
        "unknown-command",
        `unknown command ${JSON.stringify(command)}; this plugin knows \`list\` (or \`run\`)`,
      );
    }
    const names = requestedNamespaces(input);
    log.log("info", `listing ${names.length} namespaces`);
    return canonical({ namespaces: names.map(describe) });
  },
};
