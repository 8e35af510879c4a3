import * as fs from "node:fs";
import * as path from "node:path";
import MarkdownIt from "markdown-it";
import { beforeAll, describe, expect, it } from "vitest";
import { markdownParagraph, markdownText, mermaidLabel, terminalSafe } from "../src/model/text";
import { tempFile } from "./support/files";
import { cli } from "./support/inProcessCli";

// A rollout whose free text tries what a reviewer's pull request or terminal could be hijacked with:
// an HTML comment that would hide the rest of the report, a newline and pipes that would end a table row,
// a heading, a link, emphasis, a code fence, and a right-to-left override that reorders what follows it.
const HOSTILE_TEXT =
  "Safe stage <!-- hide everything below\n| forged | row |\n# Heading [click](https://evil.example) **bold** ``` \u202eevil";
const REASON = "legacy --> <img src=x onerror=alert(1)>\n| x |";

function hostileRollout(): string {
  return tempFile("hostile-text.yaml", [
    "namespaces: [ { name: shop, injection: true } ]",
    "workloads:",
    "  - { name: api, namespace: shop, image: 'api:1', service: { ports: [ { port: 80 } ] } }",
    "  - { name: client, namespace: shop, image: 'curl:8', probe: true }",
    "stages:",
    "  - name: open",
    `    description: ${JSON.stringify(HOSTILE_TEXT)}`,
    "    peerAuthentications:",
    `      - { name: default, namespace: shop, mode: DISABLE, allowDisable: ${JSON.stringify(REASON)} }`,
  ]);
}

describe("free text in the pull-request report", () => {
  let markdown = "";
  beforeAll(async () => {
    markdown = (await cli(["report", "--stage", "open", "--previous", "none", "--rollout", hostileRollout()])).stdout;
  });

  it("cannot open an HTML comment, add a table row, a heading, a link or an image, or close a code fence", () => {
    expect(markdown).not.toContain("<!--");
    expect(markdown).not.toContain("<img");
    // GitHub renders HTML in Markdown: render with HTML on, as it would.
    const html = new MarkdownIt({ html: true }).render(markdown);
    for (const section of ["Progress", "Changes", "Guardrails", "Mesh after this stage", "Commands"])
      expect(html).toContain(`<h3>${section}</h3>`);
    expect(html).not.toContain("<!--");
    expect(html).not.toMatch(/<a href|<img|<h1>|<strong>bold/);
    // The description is one quoted paragraph; the acknowledged reason stays in its cell of the one guardrail row.
    expect(markdown.split("\n").filter((l) => l.startsWith("> "))).toHaveLength(1);
    const guardrailRows = (html.split("<h3>Guardrails</h3>")[1].split("</table>")[0].match(/<tr>/g) ?? []).length;
    expect(guardrailRows).toBe(2); // the head and the no-mtls-disable finding
    expect(html).toContain("legacy --&gt; &lt;img src=x onerror=alert(1)&gt; | x |");
  });

  it("keeps the text readable: every character the author wrote is still there, escaped", () => {
    expect(markdown).toContain(
      "> Safe stage &lt;!-- hide everything below \\| forged \\| row \\| # Heading \\[click\\](https://evil.example) \\*\\*bold\\*\\* \\`\\`\\` \\\\u202eevil",
    );
  });
});

describe("free text on a terminal", () => {
  it("shows the characters a terminal would obey instead of sending them, and keeps JSON exact", async () => {
    const file = hostileRollout();
    const text = await cli(["plan", "--stage", "open", "--rollout", file]);
    expect(text.code).toBe(0);
    expect(text.stdout).not.toContain("\u202e");
    expect(text.stdout).toContain("\\u202eevil");
    // In JSON the escape is JSON's own: the value reads back as written.
    const json = await cli(["plan", "--stage", "open", "--rollout", file, "--json"]);
    expect(json.stdout).not.toContain("\u202e");
    expect(JSON.parse(json.stdout).description).toBe(HOSTILE_TEXT);
  });

  it("shows a kubectl's escape sequences and bell as text when it prints them in an error", async () => {
    const kubectl = tempFile("kubectl", "#!/bin/sh\nprintf '\\033]0;owned\\007\\033[2J\\033[31mError from server\\r\\n' >&2\nexit 1\n");
    fs.chmodSync(kubectl, 0o755);
    const result = await cli(["status", "--rollout", hostileRollout()], { env: { KUBECTL: kubectl } });
    expect(result.code).toBe(3);
    expect(result.stderr).toContain("\\u001b]0;owned\\u0007\\u001b[2J\\u001b[31mError from server");
    expect(result.stderr).not.toMatch(/[\u0007\u001b\r]/);
  });
});

describe("the escapes", () => {
  it("leave plain text as it is", () => {
    const plain = "shop/api calls shop/cart on 8080, which is STRICT.";
    expect([terminalSafe(plain), markdownText(plain), markdownParagraph(plain), mermaidLabel(plain)]).toEqual([
      plain,
      plain,
      plain,
      plain.replace(/,/g, ","),
    ]);
  });

  it("escape what starts a Markdown block only where a block can start", () => {
    expect(markdownParagraph("1. first")).toBe("1\\. first");
    expect(markdownParagraph("- item")).toBe("\\- item");
    expect(markdownText("100.0%")).toBe("100.0%");
  });

  it("give Mermaid no quote, bracket, pipe or backtick to end a label or the fence with", () => {
    expect(mermaidLabel('a"b]|c`d\ne')).toBe("a#34;b#93;#124;c#96;d e");
  });
});

it("keeps the README's claim about escaping true", () => {
  const readme = fs.readFileSync(path.join(__dirname, "..", "README.md"), "utf8");
  expect(readme).toMatch(/escaped for where it is printed/);
});
