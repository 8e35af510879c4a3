/**
 * Injection as the webhook decides it (issue 20, point 2), for a workload no pod of which runs: which injector entry
 * the API server calls (its namespaceSelector and objectSelector, as the istiod chart renders them for a revision and
 * a tag: manifests/charts/istio-control/istio-discovery/templates/mutatingwebhook.yaml, revision-tags-mwc.yaml), and
 * whether the injector then declines (pkg/kube/inject/inject.go `injectRequired`). istio/istio at 86c9f01.
 */
import { describe, expect, it } from "vitest";
import { chartWebhooks, predictInjection, type InjectorWebhook, type PodToInject } from "../src/model/injection";

const pod = (over: Partial<PodToInject>): PodToInject => ({
  namespace: "shop",
  namespaceLabels: {},
  labels: { app: "web" },
  annotations: {},
  hostNetwork: false,
  ...over,
});
const defaultRevision = chartWebhooks("default");
const canary = chartWebhooks("canary");
/** `istioctl tag set prod --revision canary`: the chart's entries for the tag, calling canary's istiod. */
const prodTag: InjectorWebhook[] = chartWebhooks("prod").map((w) => ({ ...w, revision: "canary" }));
const inject = (p: PodToInject, webhooks: InjectorWebhook[] | undefined = defaultRevision) => predictInjection(p, webhooks).sidecar;

describe("whether a pod gets a sidecar", () => {
  it.each([
    ["namespace istio-injection=enabled", pod({ namespaceLabels: { "istio-injection": "enabled" } }), true],
    [
      "namespace istio-injection=enabled, pod label inject=false",
      pod({ namespaceLabels: { "istio-injection": "enabled" }, labels: { "sidecar.istio.io/inject": "false" } }),
      false,
    ],
    [
      "namespace istio-injection=disabled, pod label inject=true (no entry matches)",
      pod({ namespaceLabels: { "istio-injection": "disabled" }, labels: { "sidecar.istio.io/inject": "true" } }),
      false,
    ],
    ["no namespace label, pod label inject=true (object.)", pod({ labels: { "sidecar.istio.io/inject": "true" } }), true],
    [
      "no namespace label, pod annotation inject=true: selectors see labels only",
      pod({ annotations: { "sidecar.istio.io/inject": "true" } }),
      false,
    ],
    [
      "namespace enabled, the deprecated annotation inject=false: injectRequired declines",
      pod({ namespaceLabels: { "istio-injection": "enabled" }, annotations: { "sidecar.istio.io/inject": "false" } }),
      false,
    ],
    [
      "namespace enabled, a pod on the node's network",
      pod({ namespaceLabels: { "istio-injection": "enabled" }, hostNetwork: true }),
      false,
    ],
    ["kube-system labelled for injection", pod({ namespace: "kube-system", namespaceLabels: { "istio-injection": "enabled" } }), false],
    ["namespace istio.io/rev=default (rev.namespace.)", pod({ namespaceLabels: { "istio.io/rev": "default" } }), true],
    ["namespace istio.io/rev=canary, which no webhook serves", pod({ namespaceLabels: { "istio.io/rev": "canary" } }), false],
  ])("%s", (_, p, expected) => {
    expect(inject(p)).toBe(expected);
  });

  it("follows revisions and tags: a namespace's or a pod's istio.io/rev, and istio-injection=enabled over both", () => {
    const all = [...defaultRevision, ...canary, ...prodTag];
    expect(predictInjection(pod({ namespaceLabels: { "istio.io/rev": "canary" } }), all)).toEqual({
      sidecar: true,
      why: "(the istiod chart's) rev.namespace.sidecar-injector.istio.io (revision canary) injects it",
    });
    expect(predictInjection(pod({ labels: { "istio.io/rev": "prod" } }), all).why).toMatch(/rev\.object\..*\(revision canary\)/);
    expect(predictInjection(pod({ namespaceLabels: { "istio.io/rev": "canary", "istio-injection": "enabled" } }), all).why).toMatch(
      /^\(the istiod chart's\) namespace\.sidecar-injector\.istio\.io \(revision default\)/,
    );
    // A namespace's revision over a pod's: rev.object. needs the namespace without one.
    expect(inject(pod({ namespaceLabels: { "istio.io/rev": "gone" }, labels: { "istio.io/rev": "canary" } }), all)).toBe(false);
  });

  it("matches nothing through an entry istioctl deactivated (its never-match selector)", () => {
    const deactivated = defaultRevision.map((w) => ({
      ...w,
      namespaceSelector: { matchLabels: { "istio.io/deactivated": "never-match" } },
    }));
    expect(inject(pod({ namespaceLabels: { "istio-injection": "enabled" } }), deactivated)).toBe(false);
  });

  it("assumes the chart's selectors for every revision named when the cluster's webhooks could not be read, and says so", () => {
    const verdict = predictInjection(pod({ namespaceLabels: { "istio.io/rev": "1-29-6" } }), undefined);
    expect(verdict).toEqual({
      sidecar: true,
      why: "(the istiod chart's) rev.namespace.sidecar-injector.istio.io (revision 1-29-6) (the istiod chart's selectors: the cluster's webhooks were not read) injects it",
    });
  });
});
