#!/usr/bin/env node
// An executable for KUBECTL that answers `get … -o json` from the List files in $FAKE_KUBECTL_DIR
// (namespaces.json, controllers.json, services.json, pods.json, peerauthentications.json), as kubectl does:
// all namespaces, one namespace (`--namespace NS`), or one named namespace (`get namespace NAME`).
// FAKE_KUBECTL_CONTEXTS: the contexts the kubeconfig has (comma-separated); FAKE_KUBECTL_FORBID: a resource
// the user may not list; FAKE_KUBECTL_UNREACHABLE=1: the API server refuses connections.
// Error texts: kubectl's own (`error: context "x" does not exist`), the API server's NotFound and Forbidden
// messages (k8s.io/apiserver responsewriters), and client-go's connection error.
const fs = require("node:fs");
const path = require("node:path");

const fail = (text) => {
  process.stderr.write(text + "\n");
  process.exit(1);
};
let args = process.argv.slice(2);
if (args[0] === "--context") {
  const known = (process.env.FAKE_KUBECTL_CONTEXTS ?? "").split(",").filter(Boolean);
  if (known.length > 0 && !known.includes(args[1])) fail(`error: context "${args[1]}" does not exist`);
  args = args.slice(2);
}
if (process.env.FAKE_KUBECTL_UNREACHABLE === "1") {
  fail("The connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?");
}
if (args[0] !== "get" || args[args.length - 1] !== "json" || args[args.length - 2] !== "-o") fail(`error: unexpected call: kubectl ${args.join(" ")}`);
const kind = args[1];
const files = {
  namespaces: "namespaces.json",
  namespace: "namespaces.json",
  "deployments.apps,statefulsets.apps,daemonsets.apps": "controllers.json",
  services: "services.json",
  pods: "pods.json",
  "peerauthentications.security.istio.io": "peerauthentications.json",
};
if (!files[kind]) fail(`error: the server doesn't have a resource type "${kind}"`);
const resource = kind.split(",")[0].split(".")[0];
if (process.env.FAKE_KUBECTL_FORBID === resource) {
  const group = kind.includes(".") ? kind.split(",")[0].split(".").slice(1).join(".") : "";
  fail(`Error from server (Forbidden): ${resource} is forbidden: User "jane@example.com" cannot list resource "${resource}" in API group "${group}" at the cluster scope`);
}
const list = JSON.parse(fs.readFileSync(path.join(process.env.FAKE_KUBECTL_DIR, files[kind]), "utf8"));
let out;
if (kind === "namespace") {
  const item = list.items.find((n) => n.metadata.name === args[2]);
  if (!item) fail(`Error from server (NotFound): namespaces "${args[2]}" not found`);
  out = item;
} else if (args[2] === "--namespace") {
  out = { ...list, items: list.items.filter((i) => i.metadata.namespace === args[3]) };
} else if (args[2] === "--all-namespaces" || kind === "namespaces") {
  out = list;
} else fail(`error: unexpected call: kubectl ${args.join(" ")}`);
process.stdout.write(JSON.stringify(out, null, 4) + "\n");
