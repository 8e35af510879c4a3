// One process that answers every fake kubectl call of a test run, on a loopback TCP port: the KUBECTL the tests
// give the CLI is a bash shim (fakeKubectlBuild.ts) that sends its arguments and the FAKE_* variables here through
// bash's own /dev/tcp and runs the answer, so a call costs one bash (and a cat) instead of a Node process (0.17 s
// of CPU each, two dozen per verification round) or a curl (35 ms each). The answers are fakeKubectlAnswer.ts's,
// as fake-kubectl.js gives them.
import * as net from "node:net";
import { answerFakeKubectl, FAKE_KUBECTL_VARIABLES } from "./fakeKubectlAnswer";

/** A word for sh: single quotes, each ' written as '\'' */
const quote = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;

/**
 * NUL-terminated fields: the number of arguments, the variables in FAKE_KUBECTL_VARIABLES' order, then the
 * arguments. Undefined until they have all arrived.
 */
function request(received: Buffer): { argv: string[]; env: Record<string, string | undefined> } | undefined {
  const fields = received.toString("utf8").split("\0").slice(0, -1);
  if (fields.length === 0) return undefined;
  const argc = Number(fields[0]);
  if (fields.length < 1 + FAKE_KUBECTL_VARIABLES.length + argc) return undefined;
  const env = Object.fromEntries(FAKE_KUBECTL_VARIABLES.map((name, i) => [name, fields[1 + i] || undefined]));
  return { argv: fields.slice(1 + FAKE_KUBECTL_VARIABLES.length, 1 + FAKE_KUBECTL_VARIABLES.length + argc), env };
}

// It ends with the run that started it, even one that ended without stopping it: its stdin closes then.
process.stdin.on("end", () => process.exit(0)).resume();
const server = net.createServer((connection) => {
  let received = Buffer.alloc(0);
  connection.on("error", () => connection.destroy()); // a caller killed mid-call (its deadline, a signal)
  connection.on("data", (chunk: Buffer) => {
    received = Buffer.concat([received, chunk]);
    const call = request(received);
    if (!call) return;
    connection.removeAllListeners("data");
    const answer = answerFakeKubectl(call.argv, call.env);
    if (answer === "hang") return; // as a kubectl stuck on an API server: the caller's deadline ends it
    connection.end(`printf '%s' ${quote(answer.stdout)}; printf '%s' ${quote(answer.stderr)} >&2; exit ${answer.exitCode}\n`);
  });
});
server.listen(0, "127.0.0.1", () => process.stdout.write(`${(server.address() as net.AddressInfo).port}\n`));
