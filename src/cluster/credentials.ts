/**
 * A Prometheus URL fit to print: user and password (a stack may hold them in a secret) replaced by `***`. Its own
 * module, with nothing to load: the command line's option parsers use it before any command is loaded.
 */
export function withoutCredentials(url: string): string {
  try {
    const u = new URL(url);
    if (!u.username && !u.password) return url;
    u.username = "***";
    u.password = "";
    return u.toString();
  } catch {
    return "(a URL that does not parse)";
  }
}
