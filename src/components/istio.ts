import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";

/** Istio's Helm chart repository (istio.io "Install with Helm"). */
export const ISTIO_CHART_REPO = "https://istio-release.storage.googleapis.com/charts";
/** The Prometheus the gate can read: Istio's own addon manifest of the same release. */
export const prometheusAddonUrl = (version: string) =>
  `https://raw.githubusercontent.com/istio/istio/${version}/samples/addons/prometheus.yaml`;
/**
 * Kiali, the mesh's graph with its security badges: Istio's own addon of the same release, whose configuration
 * leaves `external_services.prometheus` at Kiali's default, the Prometheus addon's Service in istio-system.
 */
export const kialiAddonUrl = (version: string) => `https://raw.githubusercontent.com/istio/istio/${version}/samples/addons/kiali.yaml`;

export interface IstioControlPlaneArgs {
  /** A chart version of base and istiod, pinned (`mtls-rollout:istioVersion`). */
  version: string;
  /** The mesh root namespace, where istiod runs. */
  namespace: string;
  installPrometheus: boolean;
  /** With installPrometheus: Kiali, reading that Prometheus. */
  installKiali: boolean;
  provider: k8s.Provider;
}

/** The mesh settings the lab relies on: auto mTLS (its default, stated), and access logs on stdout. */
export const MESH_CONFIG = { enableAutoMtls: true, accessLogFile: "/dev/stdout" };

/**
 * Istio installed from its Helm charts: `base` (the CRDs, PeerAuthentication's among them) and then
 * `istiod` (the control plane and its sidecar injection webhook), both waiting until ready.
 */
export class IstioControlPlane extends pulumi.ComponentResource {
  readonly base: k8s.helm.v3.Release;
  readonly istiod: k8s.helm.v3.Release;
  readonly prometheus?: k8s.yaml.v2.ConfigFile;
  readonly kiali?: k8s.yaml.v2.ConfigFile;

  constructor(name: string, args: IstioControlPlaneArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mtls-rollout:index:IstioControlPlane", name, { version: args.version }, opts);
    const child = { parent: this, provider: args.provider };
    const chart = (chartName: string) => ({
      chart: chartName,
      version: args.version,
      namespace: args.namespace,
      repositoryOpts: { repo: ISTIO_CHART_REPO },
    });
    this.base = new k8s.helm.v3.Release("istio-base", { ...chart("base"), name: "istio-base", createNamespace: true }, child);
    this.istiod = new k8s.helm.v3.Release(
      "istiod",
      { ...chart("istiod"), name: "istiod", values: { meshConfig: MESH_CONFIG } },
      { ...child, dependsOn: [this.base] },
    );
    if (args.installPrometheus) {
      this.prometheus = new k8s.yaml.v2.ConfigFile(
        "prometheus",
        { file: prometheusAddonUrl(args.version) },
        { ...child, dependsOn: [this.istiod] },
      );
      if (args.installKiali) {
        this.kiali = new k8s.yaml.v2.ConfigFile("kiali", { file: kialiAddonUrl(args.version) }, { ...child, dependsOn: [this.prometheus] });
      }
    }
    this.registerOutputs({ base: this.base, istiod: this.istiod, prometheus: this.prometheus, kiali: this.kiali });
  }
}
