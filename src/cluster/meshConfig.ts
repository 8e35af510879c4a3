/**
 * Istio's mesh config as a cluster holds it: the `mesh` key of the ConfigMap `istio` (`istio-<revision>` for a
 * revision) in istiod's namespace, written by the istiod chart (manifests/charts/istio-control/istio-discovery/
 * templates/configmap.yaml), `rootNamespace` always among it (`meshConfig.rootNamespace`, else istiod's namespace).
 * What the live semantics need of it: the root namespace, where a selector-less policy is mesh-wide, and whether
 * auto mTLS is on (`enableAutoMtls`, true unless set false).
 */
import { InputError } from "../model/errors";
import { parseBoundedYaml } from "../rollout/boundedYaml";
import type { ConfigMapObject } from "./objects";

export interface MeshConfig {
  /** `namespace/name` of the ConfigMap it came from. */
  source: string;
  rootNamespace?: string;
  enableAutoMtls?: boolean;
  /** `defaultDestinationRuleExportTo`: where a DestinationRule without exportTo is visible (Istio honours `.` and `*`). */
  defaultDestinationRuleExportTo?: string[];
}

/** The limits a mesh config is read within: a few KB in practice. */
const MESH_LIMITS = { maxBytes: 1024 * 1024, maxNodes: 100_000, maxDepth: 32, maxKeysPerMapping: 10_000 };

/** Each revision's mesh config among the ConfigMaps read, or why one could not be read. */
export function meshConfigsOf(configMaps: readonly ConfigMapObject[]): MeshConfig[] | { error: string } {
  const out: MeshConfig[] = [];
  for (const cm of configMaps) {
    const name = cm.metadata.name;
    const text = cm.data && Object.prototype.hasOwnProperty.call(cm.data, "mesh") ? cm.data.mesh : undefined;
    if ((name !== "istio" && !name.startsWith("istio-")) || text === undefined) continue;
    const source = `${cm.metadata.namespace}/${name}`;
    let mesh: unknown;
    try {
      mesh = parseBoundedYaml(text, `ConfigMap ${source}`, MESH_LIMITS);
    } catch (err) {
      if (err instanceof InputError) return { error: `the mesh config in ConfigMap ${source} is not readable: ${err.lines()[0]}` };
      throw err;
    }
    if (mesh === null || mesh === undefined) {
      out.push({ source });
      continue;
    }
    if (typeof mesh !== "object" || Array.isArray(mesh)) return { error: `the mesh config in ConfigMap ${source} is not a mapping` };
    const m = mesh as Record<string, unknown>;
    const root = Object.prototype.hasOwnProperty.call(m, "rootNamespace") ? m.rootNamespace : undefined;
    const auto = Object.prototype.hasOwnProperty.call(m, "enableAutoMtls") ? m.enableAutoMtls : undefined;
    if (root !== undefined && typeof root !== "string")
      return { error: `the mesh config in ConfigMap ${source} has a rootNamespace that is not a name` };
    if (auto !== undefined && typeof auto !== "boolean")
      return { error: `the mesh config in ConfigMap ${source} has an enableAutoMtls that is not true or false` };
    const exportTo = Object.prototype.hasOwnProperty.call(m, "defaultDestinationRuleExportTo")
      ? m.defaultDestinationRuleExportTo
      : undefined;
    if (exportTo !== undefined && (!Array.isArray(exportTo) || !exportTo.every((x) => typeof x === "string")))
      return { error: `the mesh config in ConfigMap ${source} has a defaultDestinationRuleExportTo that is not a list of names` };
    out.push({
      source,
      ...(root ? { rootNamespace: root } : {}),
      ...(auto !== undefined ? { enableAutoMtls: auto } : {}),
      ...(exportTo !== undefined ? { defaultDestinationRuleExportTo: exportTo as string[] } : {}),
    });
  }
  return out.sort((a, b) => a.source.localeCompare(b.source));
}
