// API types from the OpenAPI schema: `manage.py spectacular` writes the schema to a temporary file,
// openapi-typescript turns it into src/api/schema.d.ts. With --check nothing is written: the command
// fails when the committed file differs from what the schema gives now (CI, `make test`, `make lint`).
//
//   npm run api:types            regenerate src/api/schema.d.ts
//   npm run api:types -- --check fail on drift
// PYTHON (default: ../.venv/bin/python when it exists, else python3) runs manage.py.

import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import openapiTS, { astToString } from "openapi-typescript";

const frontend = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const repo = resolve(frontend, "..");
const target = join(frontend, "src", "api", "schema.d.ts");
const check = process.argv.includes("--check");
const python = process.env.PYTHON ?? (existsSync(join(repo, ".venv/bin/python")) ? join(repo, ".venv/bin/python") : "python3");

const dir = mkdtempSync(join(tmpdir(), "crisp-schema-"));
try {
  const schemaFile = join(dir, "schema.json");
  execFileSync(python, ["manage.py", "spectacular", "--format", "openapi-json", "--file", schemaFile], {
    cwd: repo,
    stdio: ["ignore", "inherit", "inherit"],
  });
  const schema = JSON.parse(readFileSync(schemaFile, "utf8"));
  const header = "// Generated from GET /api/schema/ by `npm run api:types` (openapi-typescript). Do not edit.\n\n";
  const text = header + astToString(await openapiTS(schema, { alphabetize: true }));
  if (check) {
    const current = existsSync(target) ? readFileSync(target, "utf8") : "";
    if (current !== text) {
      console.error("src/api/schema.d.ts is out of date with the API schema: run `cd frontend && npm run api:types` and commit it.");
      process.exit(1);
    }
    console.log("src/api/schema.d.ts matches the API schema.");
  } else {
    writeFileSync(target, text);
    console.log(`wrote ${target}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
