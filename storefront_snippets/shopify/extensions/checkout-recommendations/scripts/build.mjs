// Bundles the extension the way Shopify CLI does (`shopify app build` / `deploy`), into dist/,
// and fails when a bundle is over Shopify's 64 KB limit.
//
// Like the CLI, it reads the targets from shopify.extension.toml and bundles them together
// through one stdin module:
//   import Target_0 from './src/Checkout.tsx';shopify.extend('purchase.checkout.block.render', ...)
// with the CLI's esbuild options (bundle, minify, jsx automatic, target es6, no legal comments,
// process.env.NODE_ENV = "production"). That combined file, dist/<handle>.js, is what Shopify
// measures. Each target is also bundled alone (dist/<target>.js) to show what it costs.
//
// Usage: node scripts/build.mjs [--json]
import { build } from "esbuild";
import { parse } from "smol-toml";
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

export const LIMIT_BYTES = 64 * 1024;

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "dist");

/** The targets of every `[[extensions]]` entry of shopify.extension.toml. */
export function readTargets(tomlText) {
  const config = parse(tomlText);
  const extensions = Array.isArray(config.extensions) ? config.extensions : [];
  return extensions.map((extension) => ({
    handle: String(extension.handle),
    targets: (extension.targeting ?? []).map(({ target, module }) => ({ target: String(target), module: String(module) })),
  }));
}

/** The stdin module Shopify CLI generates for a UI extension with remote-DOM targets (2025-10+). */
export function stdinFor(targets) {
  return targets
    .map(({ target, module }, index) =>
      `import Target_${index} from '${module}';shopify.extend('${target}', (...args) => Target_${index}(...args));`,
    )
    .join("\n");
}

function define() {
  const values = { "process.env.NODE_ENV": JSON.stringify("production") };
  // The CLI defines process.env.<NAME> for the environment it runs in; the extension reads one.
  if (process.env.CARTWISE_APP_URL) {
    values["process.env.CARTWISE_APP_URL"] = JSON.stringify(process.env.CARTWISE_APP_URL);
  }
  return values;
}

/** Shopify CLI's esbuild options for a UI extension (`getESBuildOptions`), production build. */
export function esbuildOptions(targets) {
  return {
    stdin: { contents: stdinFor(targets), resolveDir: root, sourcefile: "extension-entry.js", loader: "js" },
    bundle: true,
    define: define(),
    jsx: "automatic",
    loader: { ".esnext": "ts", ".js": "jsx" },
    legalComments: "none",
    minify: true,
    target: "es6",
    resolveExtensions: [".tsx", ".ts", ".js", ".json", ".esnext", ".mjs", ".ejs"],
    logLevel: "warning",
  };
}

async function bundle(targets, outfile) {
  const result = await build({ ...esbuildOptions(targets), outfile });
  const bytes = statSync(outfile).size;
  const gzip = gzipSync(readFileSync(outfile), { level: 9 }).length;
  return { file: outfile.slice(root.length + 1), bytes, gzip, warnings: result.warnings.length };
}

const kb = (n) => `${(n / 1024).toFixed(1)} KB`;

async function main() {
  const json = process.argv.includes("--json");
  const extensions = readTargets(readFileSync(join(root, "shopify.extension.toml"), "utf8"));
  rmSync(dist, { recursive: true, force: true });
  mkdirSync(dist, { recursive: true });
  const rows = [];
  for (const { handle, targets } of extensions) {
    for (const { module } of targets) {
      if (!existsSync(join(root, module))) throw new Error(`${module} (in shopify.extension.toml) does not exist`);
    }
    rows.push({ bundle: `${handle} (all targets, as deployed)`, ...(await bundle(targets, join(dist, `${handle}.js`))) });
    for (const target of targets) {
      rows.push({ bundle: target.target, ...(await bundle([target], join(dist, `${target.target}.js`))) });
    }
  }
  const over = rows.filter((row) => row.bytes > LIMIT_BYTES);
  writeFileSync(join(dist, "sizes.json"), JSON.stringify({ limit_bytes: LIMIT_BYTES, bundles: rows }, null, 2) + "\n");
  if (json) {
    console.log(JSON.stringify(rows));
  } else {
    console.log(`Bundle sizes (limit ${kb(LIMIT_BYTES)} minified; Shopify's 64 KB limit is on the compressed file):`);
    for (const row of rows) {
      console.log(`  ${row.file.padEnd(48)} ${kb(row.bytes).padStart(9)} minified ${kb(row.gzip).padStart(9)} gzip  ${row.bundle}`);
    }
  }
  if (over.length > 0) {
    for (const row of over) console.error(`error: ${row.file} is ${row.bytes} bytes, over the ${LIMIT_BYTES}-byte limit`);
    process.exit(1);
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
