import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "smol-toml";
import { describe, expect, it } from "vitest";

import { LIMIT_BYTES, readTargets, stdinFor } from "../scripts/build.mjs";
import { buildEvents, buildRecommendationRequest, readSettings } from "../src/api";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const tomlText = readFileSync(join(root, "shopify.extension.toml"), "utf8");
const config = parse(tomlText) as {
  api_version: string;
  extensions: {
    type: string;
    handle: string;
    targeting: { target: string; module: string }[];
    capabilities: Record<string, boolean>;
    settings: { fields: { key: string; type: string; validations?: { name: string; value: string }[] }[] };
  }[];
};
const extension = config.extensions[0];
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

describe("shopify.extension.toml", () => {
  it("is one UI extension on the package's API version", () => {
    expect(config.extensions).toHaveLength(1);
    expect(extension.type).toBe("ui_extension");
    // 2026-07 <-> @shopify/ui-extensions 2026.7.x
    const [year, month] = config.api_version.split("-").map(Number);
    expect(pkg.dependencies["@shopify/ui-extensions"]).toMatch(new RegExp(`^${year}\\.${month}\\.\\d+$`));
  });

  it("renders in the checkout block and the Thank you block, from modules that exist", () => {
    expect(extension.targeting).toEqual([
      { target: "purchase.checkout.block.render", module: "./src/Checkout.tsx" },
      { target: "purchase.thank-you.block.render", module: "./src/ThankYou.tsx" },
    ]);
    for (const { module } of extension.targeting) expect(existsSync(join(root, module))).toBe(true);
  });

  it("asks for network access and nothing else", () => {
    expect(extension.capabilities).toEqual({ network_access: true });
  });

  it("defines the settings the extension reads", () => {
    const fields = Object.fromEntries(extension.settings.fields.map((field) => [field.key, field]));
    expect(Object.keys(fields).sort()).toEqual(["app_url", "heading", "item_count"]);
    expect(fields.item_count.type).toBe("number_integer");
    expect(fields.item_count.validations).toEqual([
      { name: "min", value: "1" },
      { name: "max", value: "8" },
    ]);
    expect(fields.app_url.type).toBe("single_line_text_field");
    const pattern = new RegExp(fields.app_url.validations!.find((v) => v.name === "regex")!.value);
    expect(pattern.test("https://cartwise.example.com")).toBe(true);
    expect(pattern.test("https://cartwise.example.com/base")).toBe(true);
    expect(pattern.test("http://cartwise.example.com")).toBe(false);
    // What the checkout editor would hand over reaches the extension's settings.
    expect(readSettings({ heading: "Hi", item_count: 5, app_url: "https://cartwise.example.com" })).toEqual({
      heading: "Hi",
      k: 5,
      appUrl: "https://cartwise.example.com",
    });
  });
});

describe("build", () => {
  it("bundles the toml's targets through the CLI's entry module", () => {
    expect(readTargets(tomlText)).toEqual([{ handle: "checkout-recommendations", targets: extension.targeting }]);
    expect(stdinFor(extension.targeting)).toBe(
      "import Target_0 from './src/Checkout.tsx';shopify.extend('purchase.checkout.block.render', (...args) => Target_0(...args));\n" +
        "import Target_1 from './src/ThankYou.tsx';shopify.extend('purchase.thank-you.block.render', (...args) => Target_1(...args));",
    );
    expect(LIMIT_BYTES).toBe(65536);
  });

  it("pins every dependency", () => {
    for (const version of [...Object.values(pkg.dependencies), ...Object.values(pkg.devDependencies)]) {
      expect(version).toMatch(/^\d+\.\d+\.\d+$/);
    }
  });
});

// The server's contract, read from the Python models next door: a renamed or added required
// field there fails here. Skipped when the extension is used outside the cartwise repository.
const schemas = resolve(root, "../../../../cartwise/schemas.py");
const hasSchemas = existsSync(schemas);

function modelLines(source: string, model: string): [string, string][] {
  const start = source.indexOf(`class ${model}(BaseModel):`);
  if (start < 0) throw new Error(`${model} not found in cartwise/schemas.py`);
  const lines: [string, string][] = [];
  // a declaration that opens more brackets than it closes goes on over the next lines
  const open = (text: string) => (text.match(/[([{]/g) ?? []).length - (text.match(/[)\]}]/g) ?? []).length;
  let depth = 0;
  for (const text of source.slice(start).split("\n").slice(1)) {
    if (/^\S/.test(text)) break;
    if (depth > 0) {
      lines[lines.length - 1][1] += ` ${text.trim()}`;
      depth += open(text);
      continue;
    }
    const match = /^ {4}([a-z_]+): (.*)$/.exec(text);
    if (match) {
      lines.push([match[1], match[2]]);
      depth = open(match[2]);
    }
  }
  return lines;
}

function modelFields(source: string, model: string): string[] {
  return modelLines(source, model).map(([name]) => name);
}

/** Fields without a default: `name: T` or `name: T = Field(...)` with no default in it. */
function requiredFields(source: string, model: string): string[] {
  return modelLines(source, model)
    .filter(([, rest]) => !rest.includes("=") || (/= Field\(/.test(rest) && !/default/.test(rest)))
    .map(([name]) => name);
}

describe.skipIf(!hasSchemas)("server contract (cartwise/schemas.py)", () => {
  const source = hasSchemas ? readFileSync(schemas, "utf8") : "";

  it("sends only fields RecommendationRequest and CartItem know", () => {
    const body = buildRecommendationRequest(
      [{ merchandise: { id: "gid://shopify/ProductVariant/1", product: { id: "gid://shopify/Product/2" } }, quantity: 1 }],
      "checkout",
      3,
      "s",
    );
    expect(modelFields(source, "RecommendationRequest")).toEqual(expect.arrayContaining(Object.keys(body)));
    expect(modelFields(source, "CartItem")).toEqual(expect.arrayContaining(Object.keys(body.cart[0])));
    expect(source).toMatch(/Placement = Literal\[[^\]]*"checkout"[^\]]*"thank_you"/);
  });

  it("reads fields RecommendationItem and RecommendationResponse have", () => {
    expect(modelFields(source, "RecommendationItem")).toEqual(
      expect.arrayContaining(["product_id", "variant_id", "title", "price", "image_url", "reason"]),
    );
    expect(modelFields(source, "RecommendationResponse")).toEqual(
      expect.arrayContaining(["items", "source", "model_version", "request_id"]),
    );
  });

  // `TrackedEvent` arrives with the server's `POST /v1/events`; until then there is nothing to check.
  it.skipIf(!source.includes("class TrackedEvent(BaseModel):"))("sends events with only TrackedEvent's fields, and all its required ones", () => {
    const batch = buildEvents("impression", [{ product_id: "1", variant_id: "2", title: "t", price: null, currency: null, image_url: null, reason: "" }], {
      sessionId: "s",
      requestId: "r",
      placement: "checkout",
    });
    const sent = Object.keys(batch!.events[0]);
    expect(modelFields(source, "TrackedEvent")).toEqual(expect.arrayContaining(sent));
    expect(requiredFields(source, "TrackedEvent")).toEqual(["kind", "product_id", "session_id"]);
    expect(sent).toEqual(expect.arrayContaining(requiredFields(source, "TrackedEvent")));
    expect(modelFields(source, "EventBatch")).toEqual(["events"]);
  });
});
