// Writes schema/rollout.schema.json from the zod schema (npm run build:schema); a test says when it is stale.
import * as fs from "node:fs";
import * as path from "node:path";
import { rolloutJsonSchema } from "../src/model/jsonSchema";
import { ROLLOUT_SCHEMA_PATH } from "../src/rollout/load";

fs.mkdirSync(path.dirname(ROLLOUT_SCHEMA_PATH), { recursive: true });
fs.writeFileSync(ROLLOUT_SCHEMA_PATH, JSON.stringify(rolloutJsonSchema(), null, 2) + "\n");
