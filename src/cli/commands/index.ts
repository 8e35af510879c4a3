// The commands' actions, one module each.
export { check } from "./check";
export { discover } from "./discover";
export { plan } from "./plan";
export { preflight } from "./preflight";
export { report } from "./report";
export { status } from "./status";
export { verify } from "./verify";
export { readStackFile } from "../stackFile";
