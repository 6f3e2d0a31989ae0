// Browser tests: a real headless Chromium (Debian's, driven by
// playwright-core) against a real `fieldflow serve` over a temp SQLite
// database, with a local webhook receiver. Elements are found by role and
// visible text, as a person finds them. Screenshots go to SCREENSHOTS.
//
// FIELDFLOW_BIN names the built binary; internal/webui/browser_test.go
// builds it and runs this script.
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";

const bin = process.env.FIELDFLOW_BIN;
if (!bin) throw new Error("FIELDFLOW_BIN must name the fieldflow binary");
const shots = resolve(process.env.SCREENSHOTS ?? "../docs/screenshots");
mkdirSync(shots, { recursive: true });
const adminKey = "ffk_browser-test-admin-key";
const work = mkdtempSync(join(tmpdir(), "fieldflow-browser-"));

function fail(msg) {
  throw new Error(msg);
}

// The receiver answers 200 and remembers what it got.
const received = [];
const receiver = http.createServer((req, res) => {
  let body = "";
  req.on("data", (c) => (body += c));
  req.on("end", () => {
    received.push({ headers: req.headers, body });
    res.writeHead(200, { "content-type": "text/plain" }).end("ok");
  });
});
await new Promise((r) => receiver.listen(0, "127.0.0.1", r));
const receiverURL = `http://127.0.0.1:${receiver.address().port}/hook`;

// The server prints its address once it listens.
const server = spawn(bin, ["serve", "--addr", "127.0.0.1:0", "--db", join(work, "ff.db"), "--allow-private-targets"], {
  env: { ...process.env, FIELDFLOW_ADMIN_KEY: adminKey },
  stdio: ["ignore", "pipe", "pipe"],
});
let logs = "";
const base = await new Promise((resolveAddr, reject) => {
  const t = setTimeout(() => reject(new Error(`server did not start:\n${logs}`)), 30000);
  const on = (d) => {
    logs += d;
    const m = /fieldflow listening.*addr=(127\.0\.0\.1:\d+)/.exec(logs);
    if (m) { clearTimeout(t); resolveAddr(`http://${m[1]}`); }
  };
  server.stdout.on("data", on);
  server.stderr.on("data", on);
  server.on("exit", (code) => reject(new Error(`server exited ${code}:\n${logs}`)));
});

const context = await chromium.launchPersistentContext(join(work, "profile"), {
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
  viewport: { width: 1280, height: 900 },
});
const page = context.pages()[0] ?? (await context.newPage());
page.setDefaultTimeout(10000);
// No request may leave the machine: everything the app loads is its own.
const foreign = [];
page.on("request", (r) => { if (!r.url().startsWith(base) && !r.url().startsWith("data:")) foreign.push(r.url()); });
const consoleErrors = [];
page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });

let passed = 0;
async function step(name, fn) {
  try {
    await fn();
    passed++;
    console.log(`ok   ${name}`);
  } catch (e) {
    console.log(`FAIL ${name}`);
    await page.screenshot({ path: join(shots, "failure.png"), fullPage: true }).catch(() => {});
    throw e;
  }
}

try {
  await step("log in with the admin key; the key is kept nowhere in the browser", async () => {
    await page.goto(base + "/");
    await page.screenshot({ path: join(shots, "login.png") });
    await page.getByLabel("API key").fill(adminKey);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.getByRole("navigation", { name: "Main" }).getByText("admin").waitFor();
    const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie);
    if (stored.includes(adminKey)) fail("the key is in browser storage");
    if (stored.includes("fieldflow_session")) fail("the session cookie is readable by script");
  });

  await step("create a field group and a select field", async () => {
    await page.getByRole("link", { name: "Fields" }).click();
    const g = page.getByRole("form", { name: "New field group" });
    await g.getByLabel("Key", { exact: true }).fill("customer");
    await g.getByLabel("Name", { exact: true }).fill("Customer");
    await g.getByRole("button", { name: "Create group" }).click();
    await page.getByRole("heading", { name: "Global fields of Customer" }).waitFor();
    const f = page.getByRole("form", { name: "New global field" });
    await f.getByLabel("Field key").fill("company_size");
    await f.getByLabel("Label").fill("Company size");
    await f.getByLabel("Type").selectOption("select");
    await f.getByLabel("Required").check();
    await f.getByLabel("Options (one per line)").fill("1-10\n11-50\n51-200");
    await f.getByRole("button", { name: "Create field" }).click();
    await page.getByRole("cell", { name: "company_size" }).waitFor();
    await page.getByRole("cell", { name: "required, options: 1-10|11-50|51-200" }).waitFor();
    await page.screenshot({ path: join(shots, "fields.png"), fullPage: true });
  });

  await step("a pattern is checked as it is typed", async () => {
    const f = page.getByRole("form", { name: "New global field" });
    await f.getByLabel("Pattern (RE2)").fill("^INS-\\d+$");
    await f.getByLabel("Try a sample").fill("INS-12");
    await f.getByRole("status").filter({ hasText: "sample matches" }).waitFor();
    await f.getByLabel("Try a sample").fill("nope");
    await f.getByRole("status").filter({ hasText: "sample does not match" }).waitFor();
  });

  await step("register an endpoint to a local receiver; its secret is shown once", async () => {
    await page.getByRole("link", { name: "Webhooks" }).click();
    const f = page.getByRole("form", { name: "New endpoint" });
    await f.getByLabel("Endpoint URL").fill(receiverURL);
    await f.getByRole("button", { name: "Create endpoint" }).click();
    await page.getByText(/^whsec_/).waitFor();
    await page.screenshot({ path: join(shots, "webhooks.png"), fullPage: true });
    await page.getByRole("button", { name: "Done" }).click();
  });

  await step("save a value and see it, with its history", async () => {
    await page.getByRole("link", { name: "Records" }).click();
    const o = page.getByRole("form", { name: "Open entity" });
    await o.getByLabel("Tenant").fill("t1");
    await o.getByLabel("Group").fill("customer");
    await o.getByLabel("Entity").fill("acme");
    await o.getByRole("button", { name: "Open" }).click();
    const v = page.getByRole("form", { name: "Entity values" });
    await v.getByLabel(/Company size/).selectOption("11-50");
    await v.getByRole("button", { name: "Save values" }).click();
    await page.getByText("Saved.").waitFor();
    await page.getByText("version 1").waitFor();
    await page.getByRole("cell", { name: "company_size", exact: true }).waitFor(); // the history's changed keys
    const s = page.getByRole("form", { name: "Search values" });
    await s.getByLabel("Value").fill("11-50");
    await s.getByRole("button", { name: "Search" }).click();
    await page.getByRole("button", { name: "acme" }).waitFor();
    await page.screenshot({ path: join(shots, "records.png"), fullPage: true });
  });

  await step("a duplicate field key is refused with the API's error", async () => {
    await page.getByRole("link", { name: "Fields" }).click();
    await page.getByRole("button", { name: "customer" }).click();
    const f = page.getByRole("form", { name: "New global field" });
    await f.getByLabel("Field key").fill("company_size");
    await f.getByLabel("Label").fill("Duplicate");
    await f.getByRole("button", { name: "Create field" }).click();
    await page.getByRole("alert").waitFor();
  });

  await step("the save's delivery appears in the endpoint's log", async () => {
    await page.getByRole("link", { name: "Webhooks" }).click();
    await page.getByRole("link", { name: receiverURL }).click();
    await page.getByRole("heading", { name: "Delivery log" }).waitFor();
    await page.getByRole("cell", { name: "entity.updated" }).waitFor({ timeout: 15000 });
    await page.getByRole("cell", { name: "succeeded" }).first().waitFor({ timeout: 15000 });
    await page.getByRole("button", { name: "Send test" }).click();
    await page.getByText(/Test succeeded/).waitFor();
    await page.getByRole("cell", { name: "webhook.test" }).waitFor();
    await page.screenshot({ path: join(shots, "webhook-deliveries.png"), fullPage: true });
    if (!received.some((r) => r.headers["x-fieldflow-event"] === "entity.updated")) fail("the receiver got no entity.updated");
  });

  await step("events: the log and an event's deliveries", async () => {
    await page.getByRole("link", { name: "Events" }).click();
    await page.getByRole("cell", { name: "entity.updated" }).waitFor();
    await page.screenshot({ path: join(shots, "events.png"), fullPage: true });
    await page.getByRole("row", { name: /entity\.updated/ }).getByRole("link").click();
    await page.getByRole("heading", { name: "Deliveries" }).waitFor();
    await page.getByText("succeeded").first().waitFor();
    await page.screenshot({ path: join(shots, "event-detail.png"), fullPage: true });
  });

  await step("log out ends the session", async () => {
    await page.getByRole("button", { name: "Log out" }).click();
    await page.getByLabel("API key").waitFor();
    await page.reload();
    await page.getByLabel("API key").waitFor();
  });

  await step("nothing was fetched from another origin and the CSP blocked nothing", async () => {
    if (foreign.length) fail(`requests left the server: ${foreign.join(", ")}`);
    const csp = consoleErrors.filter((e) => e.includes("Content Security Policy"));
    if (csp.length) fail(`CSP violations: ${csp.join("\n")}`);
  });
  console.log(`${passed} passed, 0 failed`);
} finally {
  await context.close().catch(() => {});
  server.kill("SIGTERM");
  receiver.close();
  rmSync(work, { recursive: true, force: true });
}
