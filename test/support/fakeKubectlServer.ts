// One process that answers every fake kubectl call of a test run, on a unix socket: the KUBECTL the tests give
// the CLI is a shell shim (fakeKubectlBuild.ts) that sends its arguments and the FAKE_* variables here with curl
// and runs the answer, so a call costs a shell and a curl instead of a Node process (0.17 s of CPU each, two
// dozen per verification round). The answers are fakeKubectlAnswer.ts's, as fake-kubectl.js gives them.
import * as fs from "node:fs";
import * as http from "node:http";
import { answerFakeKubectl, FAKE_KUBECTL_VARIABLES, type FakeAnswer } from "./fakeKubectlAnswer";

const socket = process.argv[2];
/** A word for sh: single quotes, each ' written as '\'' */
const quote = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;

// It ends with the run that started it, even one that ended without stopping it: its stdin closes then.
process.stdin.on("end", () => process.exit(0)).resume();
fs.rmSync(socket, { force: true });
http
  .createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      // NUL-terminated fields: the variables in FAKE_KUBECTL_VARIABLES' order, then the arguments.
      const fields = Buffer.concat(chunks).toString("utf8").split("\0").slice(0, -1);
      const env = Object.fromEntries(FAKE_KUBECTL_VARIABLES.map((name, i) => [name, fields[i] || undefined]));
      let answer: FakeAnswer;
      try {
        answer = answerFakeKubectl(fields.slice(FAKE_KUBECTL_VARIABLES.length), env);
      } catch (err) {
        answer = { stdout: "", stderr: `fake kubectl: ${String(err)}\n`, exitCode: 1 };
      }
      if (answer === "hang") return; // as a kubectl stuck on an API server: the caller's deadline ends it
      response.end(`printf '%s' ${quote(answer.stdout)}; printf '%s' ${quote(answer.stderr)} >&2; exit ${answer.exitCode}\n`);
    });
  })
  .listen(socket, () => process.stdout.write("listening\n"));
