import { describe, expect, it } from "vitest";
import { firstDuplicateKey, parseStrictJson } from "../src/cluster/strictJson";

describe("reading JSON that says one thing", () => {
  it("finds a key twice in one object, at any depth, and only in one object", () => {
    expect(firstDuplicateKey('{"a":1,"b":{"a":2},"a":3}')).toEqual({ key: "a", offset: 19 });
    expect(firstDuplicateKey('[{"x":1, "y" : 2, "x":3}]')?.key).toBe("x");
    expect(firstDuplicateKey('{"c":[{"a":1},{"a":2}],"d":{"a":1}}')).toBeUndefined();
  });

  it("reads strings as strings: quotes, braces and colons inside a value are not structure", () => {
    expect(firstDuplicateKey('{"a":"x\\"","b":"{\\"a\\":1}","c":"\\"a\\": 2"}')).toBeUndefined();
    expect(firstDuplicateKey('{"k":"v\\\\","k":1}')?.key).toBe("k");
  });

  it("compares keys as decoded: an escaped spelling is the same key", () => {
    expect(firstDuplicateKey('{"a\\\\":1,"a\\u005c":2}')).toEqual({ key: "a\\", offset: 9 });
    expect(firstDuplicateKey('{"kind":1,"\\u006bind":2}')?.key).toBe("kind");
  });

  it("parses what JSON.parse parses, keeping a __proto__ key as an own key, and refuses the rest", () => {
    const parsed = parseStrictJson('{"__proto__":"x","a":1}');
    expect("value" in parsed && Object.keys(parsed.value as object)).toEqual(["__proto__", "a"]);
    expect(parseStrictJson('{"a":1,"a":2}')).toEqual({ error: 'a key appears twice in one object: "a" at offset 7' });
    expect(parseStrictJson("{'a':1}")).toMatchObject({ error: expect.stringMatching(/^not JSON/) });
  });
});
