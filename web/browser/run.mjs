// Browser tests: a real headless Chromium (Debian's, driven by
// playwright-core) against a real `fieldflow serve` over a temp SQLite
// database (or FIELDFLOW_BROWSER_DB), with a local receiver for webhooks and automation requests.
// Elements are found by role and
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

// The receiver answers 200 and remembers what it got; its /sales path
// fails the first two calls, so that an automation's run fails for good
// (one retry) and is retried from the run log.
const received = [];
const receiver = http.createServer((req, res) => {
  let body = "";
  req.on("data", (c) => (body += c));
  req.on("end", () => {
    received.push({ url: req.url, method: req.method, headers: req.headers, body });
    // A test run's requests (Idempotency-Key run_test_…) always succeed and do not count.
    const isTest = (r) => String(r.headers["idempotency-key"] ?? "").startsWith("run_test_");
    if (isTest(received[received.length - 1])) return res.writeHead(200, { "content-type": "application/json" }).end('{"test":"ok"}');
    const sales = received.filter((r) => r.url.startsWith("/sales") && !isTest(r)).length;
    if (req.url.startsWith("/sales") && sales <= 2) return res.writeHead(503, { "content-type": "text/plain" }).end("try later");
    res.writeHead(200, { "content-type": "text/plain" }).end("ok");
  });
});
await new Promise((r) => receiver.listen(0, "127.0.0.1", r));
const receiverURL = `http://127.0.0.1:${receiver.address().port}/hook`;
const salesURL = `http://127.0.0.1:${receiver.address().port}/sales`;
const slackToken = "xoxb-browser-test-secret";

// The vendor's own app, on another origin: a page that frames the tenant
// portal at the link its backend minted (?link=…).
const vendor = http.createServer((req, res) => {
  const link = new URL(req.url, "http://x").searchParams.get("link") ?? "";
  res.writeHead(200, { "content-type": "text/html" }).end(
    `<!doctype html><title>Vendor app</title><h1>Vendor app</h1><iframe title="portal" src="${link.replace(/"/g, "&quot;")}" width="1200" height="800"></iframe>`);
});
await new Promise((r) => vendor.listen(0, "127.0.0.1", r));
const vendorOrigin = `http://127.0.0.1:${vendor.address().port}`;

// The server prints its address once it listens.
// FIELDFLOW_BROWSER_DB runs it on another database (a postgres:// URL).
const server = spawn(bin, ["serve", "--addr", "127.0.0.1:0", "--db", process.env.FIELDFLOW_BROWSER_DB ?? join(work, "ff.db"), "--allow-private-targets",
  "--portal-origins", vendorOrigin], {
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
    await page.getByRole("heading", { name: "Overview" }).waitFor(); // an admin's first page
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
    // The preview shows the form a tenant fills, and follows a field as it is typed.
    const preview = page.getByRole("region", { name: "Form preview" });
    await preview.getByRole("combobox", { name: "Preview Company size" }).waitFor();
    await f.getByLabel("Field key").fill("vip");
    await f.getByLabel("Label").fill("VIP customer");
    await f.getByLabel("Type").selectOption("boolean");
    await preview.getByRole("checkbox", { name: "Preview VIP customer" }).waitFor();
    await preview.getByText("editing").waitFor();
    await f.getByLabel("Type").selectOption("string");
    // The group itself can be edited.
    await page.getByRole("row", { name: /^customer Customer/ }).getByRole("button", { name: "Edit" }).click();
    const eg = page.getByRole("form", { name: "Edit field group" });
    await eg.getByLabel("Description").fill("Our customers");
    await eg.getByRole("button", { name: "Save group" }).click();
    await page.getByRole("cell", { name: "Our customers" }).waitFor();
    await page.getByRole("heading", { name: "Global fields of Customer" }).waitFor();
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
    // The event types are picked from the server's list, every event by default.
    if (!(await f.getByRole("checkbox", { name: "All events (*)" }).isChecked())) fail("* is not the default");
    await f.getByRole("checkbox", { name: "field_value.saved", exact: true }).waitFor();
    await f.getByRole("checkbox", { name: "field_value.*", exact: true }).check();
    await f.getByRole("checkbox", { name: "field_value.*", exact: true }).uncheck();
    await f.getByLabel("CEL filter").fill("event.fieldKey ==");
    await f.getByRole("status").filter({ hasText: "✗" }).waitFor();
    await f.getByLabel("CEL filter").fill("event.event != 'webhook.disabled'");
    await f.getByRole("status").filter({ hasText: "✓ valid CEL" }).waitFor();
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
    await page.getByRole("region", { name: "Health" }).getByText(/^100% success of \d+ attempts?$/).waitFor();
    await page.screenshot({ path: join(shots, "webhook-deliveries.png"), fullPage: true });
    if (!received.some((r) => r.headers["x-fieldflow-event"] === "entity.updated")) fail("the receiver got no entity.updated");
  });

  await step("the endpoint list shows each endpoint's health", async () => {
    await page.getByRole("link", { name: "← Webhooks" }).click();
    const row = page.getByRole("row", { name: new RegExp(receiverURL.replace(/[.?]/g, "\\$&")) });
    await row.getByText(/^100% success of \d+ attempts?$/).waitFor();
    await row.getByText(/^last success/).waitFor();
    await row.getByText("healthy").waitFor();
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

  await step("settings: a variable, a secret (write-only), an API key shown once and revoked", async () => {
    page.on("dialog", (d) => d.accept()); // the confirm() before a revoke
    await page.getByRole("link", { name: "Settings" }).click();
    const v = page.getByRole("form", { name: "Variable" });
    await v.getByLabel("Name", { exact: true }).fill("sales_channel");
    await v.getByLabel("Value", { exact: true }).fill("growth");
    await v.getByRole("button", { name: "Save variable" }).click();
    await page.getByRole("cell", { name: "sales_channel" }).waitFor();
    await v.getByLabel("Name", { exact: true }).fill("slack_token");
    await v.getByLabel("Secret (write-only)").check();
    await v.getByLabel("Value", { exact: true }).fill(slackToken);
    await v.getByRole("button", { name: "Save secret" }).click();
    await page.getByRole("row", { name: /slack_token/ }).getByText("•••• set").waitFor();
    if ((await page.content()).includes(slackToken)) fail("the secret's value is on the page");

    const c = page.getByRole("form", { name: "OAuth2 connection" });
    await c.getByLabel("Connection name").fill("CRM");
    await c.getByLabel("Token URL").fill(receiverURL.replace("/hook", "/token"));
    await c.getByLabel("Client id").fill("client-1");
    await c.getByLabel("Client secret").fill("client-secret-value");
    await c.getByLabel("Scopes (space-separated)").fill("contacts.write");
    await c.getByRole("button", { name: "Create connection" }).click();
    await page.getByRole("row", { name: /CRM/ }).getByRole("button", { name: "Edit" }).click();
    await c.getByLabel("Connection name").fill("CRM EU");
    await c.getByRole("button", { name: "Save connection" }).click();
    await page.getByRole("row", { name: /CRM EU/ }).getByText("contacts.write").waitFor();
    if ((await page.content()).includes("client-secret-value")) fail("the client secret is on the page");
    await page.getByRole("row", { name: /CRM EU/ }).getByRole("button", { name: "Delete" }).click();
    await page.getByText("No connections yet.").waitFor();

    const k = page.getByRole("form", { name: "New API key" });
    await k.getByLabel("Key name").fill("billing service");
    await k.getByLabel("Role").selectOption("tenant");
    await k.getByLabel("Tenant", { exact: true }).fill("t1");
    await k.getByRole("button", { name: "Create key" }).click();
    const shown = page.getByRole("status").filter({ hasText: "shown once" });
    const key = (await shown.locator("code").textContent())?.trim() ?? "";
    if (!key.startsWith("ffk_")) fail(`no key shown: ${key}`);
    const works = await fetch(`${base}/api/tenants/t1/field-groups/customer/schema`, { headers: { "X-API-Key": key } });
    if (works.status !== 200) fail(`the new key got ${works.status}`);
    await shown.getByRole("button", { name: /Copy/ }).waitFor();
    await page.screenshot({ path: join(shots, "settings.png"), fullPage: true });
    await shown.getByRole("button", { name: "Done" }).click();
    if ((await page.content()).includes(key)) fail("the key is still on the page after Done");
    await page.getByRole("button", { name: "Revoke billing service" }).click();
    await page.getByRole("row", { name: /billing service/ }).getByText("revoked").waitFor();
    const revoked = await fetch(`${base}/api/tenants/t1/field-groups/customer/schema`, { headers: { "X-API-Key": key } });
    if (revoked.status !== 401) fail(`the revoked key got ${revoked.status}`);
  });

  await step("build the company-size automation by clicking and typing, no JSON, and test it before activating", async () => {
    await page.getByRole("link", { name: "Automations" }).click();
    await page.getByRole("link", { name: "New automation" }).click();
    const f = page.getByRole("form", { name: "Automation" });
    await f.getByLabel("Name", { exact: true }).fill("Notify sales when accounts grow");
    await f.getByLabel("A field changes").check();
    await f.getByLabel("Field group").selectOption("customer");
    await f.getByRole("combobox", { name: /^Field\b(?! group)/ }).selectOption("company_size");
    await f.getByRole("combobox", { name: /^From/ }).selectOption("1-10");
    await f.getByRole("combobox", { name: /^To/ }).selectOption("51-200");

    await f.getByRole("button", { name: "Add condition row" }).click();
    const row = f.getByRole("group", { name: "Condition row 1" });
    await row.getByLabel("Path").fill("tenant.id");
    await row.getByLabel("Operator").selectOption("!=");
    await row.getByLabel("Value").fill("demo");
    await f.getByText('CEL: tenant.id != "demo"').waitFor();

    const s1 = f.getByRole("group", { name: "Step 1", exact: true });
    await s1.getByLabel("Method").selectOption("POST");
    await s1.getByLabel("URL", { exact: true }).fill("ftp://not-http.example");
    await s1.getByLabel("Auth").selectOption("bearer");
    // The token box offers the secret just created once "{{" is typed.
    await s1.getByLabel("Token", { exact: true }).pressSequentially("{{sec");
    await s1.getByRole("listbox", { name: "Paths for Token" }).getByRole("option", { name: "secrets.slack_token" }).click();
    if ((await s1.getByLabel("Token", { exact: true }).inputValue()) !== "{{secrets.slack_token}}") fail("the picked path was not inserted");
    await s1.getByRole("button", { name: "Add header" }).click();
    await s1.getByLabel("Header name").fill("X-App-Version");
    await s1.getByLabel("Header value").fill("2024-11-01");
    await s1.getByRole("button", { name: "Add parameter" }).click();
    await s1.getByLabel("Parameter name").fill("source");
    await s1.getByLabel("Parameter value").fill("workflow");
    await s1.getByRole("button", { name: "Add property" }).click();
    await s1.getByLabel("Property name").fill("text");
    const text = s1.getByLabel("Property value");
    await text.pressSequentially("{{event.ent");
    await s1.getByRole("listbox", { name: "Paths for Property value" }).getByRole("option", { name: "event.entityId" }).click();
    await text.pressSequentially(" grew to {{event.value}} via {{vars.sales_channel}}");
    await s1.getByLabel("Timeout (s)").fill("5");
    await s1.getByLabel("Retry waits").fill("1s");

    // A second step, moved above the first and back, then removed.
    await f.getByRole("button", { name: "Add call webhook" }).click();
    await f.getByRole("button", { name: "Move step 2 up" }).click();
    await f.getByRole("group", { name: "Step 1", exact: true }).getByText("Step 1 · Call webhook").waitFor();
    await f.getByRole("button", { name: "Move step 1 down" }).click();
    await f.getByRole("group", { name: "Step 2", exact: true }).getByText("Step 2 · Call webhook").waitFor();
    await f.getByRole("button", { name: "Remove step 2" }).click();
    await f.getByRole("group", { name: "Step 2", exact: true }).waitFor({ state: "detached" });

    await f.getByLabel("Active once saved").uncheck();
    // The server's 422 shows next to the field it names.
    await f.getByRole("button", { name: "Create automation" }).click();
    await s1.locator(".field-error").first().waitFor();
    await s1.getByLabel("URL", { exact: true }).fill(salesURL);
    await f.getByRole("button", { name: "Create automation" }).click();
    await page.getByRole("heading", { name: "Notify sales when accounts grow" }).waitFor();
    await page.getByText("inactive").first().waitFor();

    // Test it before activating, on the sample event the builder offers
    // for its trigger (1-10 to 51-200), without typing any JSON.
    const test = page.getByRole("group", { name: "Test" });
    const sample = await test.getByRole("textbox", { name: /Sample event/ }).inputValue();
    if (!sample.includes('"value": "51-200"')) fail(`the sample event does not follow the trigger: ${sample}`);
    await test.getByRole("button", { name: "Run test" }).click();
    const result = page.getByRole("region", { name: "Test result" });
    await result.getByText("The trigger's condition holds").waitFor();
    await result.getByText("succeeded").first().waitFor();
    await result.getByText("Response 200").waitFor();
    const tested = received.filter((r) => String(r.headers["idempotency-key"] ?? "").startsWith("run_test_"));
    if (tested.length !== 1) fail(`the test run sent ${tested.length} requests`);
    if (!JSON.parse(tested[0].body).text.startsWith("entity-1 grew to 51-200")) fail(`the test run rendered ${tested[0].body}`);
    await page.screenshot({ path: join(shots, "automation-test.png"), fullPage: true });

    await page.getByRole("button", { name: "Activate" }).click();
    await page.getByRole("button", { name: "Deactivate" }).waitFor();
    await page.screenshot({ path: join(shots, "automation-builder.png"), fullPage: true });
  });

  await step("a value moving from 1-10 to 51-200 runs it; the run log shows the request, secret redacted", async () => {
    await page.getByRole("link", { name: "Records" }).click();
    const o = page.getByRole("form", { name: "Open entity" });
    await o.getByLabel("Tenant").fill("t1");
    await o.getByLabel("Group").fill("customer");
    await o.getByLabel("Entity").fill("globex");
    await o.getByRole("button", { name: "Open" }).click();
    const v = page.getByRole("form", { name: "Entity values" });
    await v.getByLabel(/Company size/).selectOption("1-10");
    await v.getByRole("button", { name: "Save values" }).click();
    await page.getByText("version 1").waitFor();
    await v.getByLabel(/Company size/).selectOption("51-200");
    await v.getByRole("button", { name: "Save values" }).click();
    await page.getByText("version 2").waitFor();

    await page.getByRole("link", { name: "Automations" }).click();
    await page.getByRole("link", { name: "Notify sales when accounts grow" }).click();
    await page.getByRole("heading", { name: "Run log" }).waitFor();
    // Two 503s: the first attempt and its one retry; then the run failed for good.
    await page.getByRole("cell", { name: "failed", exact: true }).waitFor({ timeout: 20000 });
    await page.getByRole("button", { name: "Retry" }).click();
    await page.getByRole("cell", { name: "succeeded" }).waitFor({ timeout: 20000 });
    await page.getByText("3 step attempt(s)").click();
    await page.getByText('"method": "POST"').first().waitFor();
    await page.getByText("Response 503").first().waitFor();
    await page.getByText("Response 200").waitFor();
    const log = await page.content();
    if (log.includes(slackToken)) fail("the run log shows the secret");
    if (!log.includes("••••")) fail("the run log does not show the redacted token");
    await page.screenshot({ path: join(shots, "automation-runs.png"), fullPage: true });
    const got = received.filter((r) => r.url.startsWith("/sales") && !String(r.headers["idempotency-key"] ?? "").startsWith("run_test_"));
    if (got.length !== 3) fail(`the receiver got ${got.length} sales requests`);
    const r = got[2];
    if (r.method !== "POST" || r.url !== "/sales?source=workflow") fail(`unexpected request ${r.method} ${r.url}`);
    if (r.headers.authorization !== `Bearer ${slackToken}`) fail("the bearer token was not the secret");
    if (r.headers["x-app-version"] !== "2024-11-01") fail("the header was not sent");
    const body = JSON.parse(r.body);
    if (body.text !== "globex grew to 51-200 via growth") fail(`unexpected body ${r.body}`);
  });

  // The vendor's backend mints portal links with its admin key.
  const adminCall = async (method, path, body) => {
    const res = await fetch(base + path, { method, headers: { "X-API-Key": adminKey, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    if (res.status >= 300) fail(`${method} ${path}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : null;
  };
  const mint = (body) => adminCall("POST", "/api/portal-sessions", body);

  await step("the event log follows live: a published event appears without a reload", async () => {
    await page.getByRole("link", { name: "Events" }).click();
    await page.getByRole("heading", { name: "Events" }).waitFor();
    await page.getByLabel("Live").check();
    await page.getByRole("status").filter({ hasText: "Live" }).waitFor();
    await page.waitForTimeout(700); // the stream starts after the newest event stored now
    const { id } = await adminCall("POST", "/api/events", { type: "LIVE_PING", tenantId: "acme", data: { n: 1 } });
    await page.getByRole("cell", { name: "LIVE_PING" }).waitFor({ timeout: 5000 });
    await page.getByRole("link", { name: id }).waitFor();
    await page.getByLabel("Live").uncheck();
  });

  await step("the overview charts the last hour and day with what was published and delivered", async () => {
    await page.getByRole("link", { name: "Overview" }).click();
    await page.getByRole("heading", { name: "Overview" }).waitFor();
    await page.getByRole("img", { name: /^Events: events [1-9]\d*; peak [1-9]/ }).waitFor();
    await page.getByRole("img", { name: /^Deliveries: succeeded [1-9]\d*, failed \d+/ }).waitFor();
    await page.getByRole("img", { name: /^Backlog: now \d+ deliveries/ }).waitFor();
    if (!(await page.getByRole("figure").filter({ hasText: "Events" }).locator("rect").count())) fail("the events chart drew no bar");
    await page.getByText("No endpoint is failing.").waitFor();
    await page.screenshot({ path: join(shots, "overview.png"), fullPage: true });
    await page.getByRole("button", { name: "Last day" }).click();
    await page.getByText("per hour, last day").waitFor();
    await page.getByRole("img", { name: /^Events: events [1-9]\d*; peak [1-9]/ }).waitFor();
    const direct = await fetch(`${base}/api/stats/overview?window=24h`, { headers: { "X-API-Key": adminKey } }).then((r) => r.json());
    if (direct.buckets.length !== 24 || !direct.buckets.some((b) => b.events > 0)) fail(`unexpected overview ${JSON.stringify(direct).slice(0, 300)}`);
  });

  await step("a portal link shows one tenant's world, in the vendor's theme, inside the vendor's app", async () => {
    await adminCall("POST", "/api/webhooks", { url: "https://acme.example.com/portal-hook", events: ["*"], tenantId: "acme" });
    await adminCall("POST", "/api/webhooks", { url: "https://globex-secret.example.com/hook", events: ["*"], tenantId: "globex" });
    await adminCall("POST", "/api/tenants/globex/field-groups/customer/entities/globex-hq/values", { company_size: "11-50" });
    const link = await mint({ tenantId: "acme", features: ["fields", "records", "webhooks"],
      theme: { name: "Acme Portal", accentColor: "#0a7f5a", mode: "dark" } });
    globalThis.portalLink = link.url;
    const vendorPage = await context.newPage();
    await vendorPage.goto(`${vendorOrigin}/?link=${encodeURIComponent(link.url)}`);
    const portal = vendorPage.frameLocator("iframe[title=portal]");
    const nav = portal.getByRole("navigation", { name: "Main" });
    await nav.getByText("Acme Portal").waitFor();
    for (const hidden of ["Automations", "Settings", "Log out"]) {
      if (await nav.getByText(hidden).count()) fail(`the portal shows ${hidden}`);
    }
    await nav.getByRole("link", { name: "Webhooks" }).click();
    await portal.getByRole("link", { name: "https://acme.example.com/portal-hook" }).waitFor();
    await nav.getByRole("link", { name: "Events" }).click();
    await portal.getByRole("heading", { name: "Events" }).waitFor();
    await nav.getByRole("link", { name: "Fields" }).click();
    await portal.getByRole("button", { name: "customer" }).click();
    await portal.getByRole("heading", { name: "Your fields" }).waitFor();
    if (await portal.getByRole("form", { name: "New field group" }).count()) fail("the portal offers to create a field group");
    if (await portal.getByRole("form", { name: "New global field" }).count()) fail("the portal offers to create a global field");
    const f = portal.getByRole("form", { name: "New tenant field" });
    await f.getByLabel("Field key").fill("loyalty_tier");
    await f.getByLabel("Label").fill("Loyalty tier");
    await f.getByRole("button", { name: "Create field" }).click();
    await portal.getByRole("cell", { name: "loyalty_tier" }).waitFor();
    const frame = vendorPage.frames().find((fr) => fr.url().startsWith(base + "/portal"));
    if (!frame) fail("no portal frame");
    await frame.evaluate(() => window.scrollTo(0, 0));
    await vendorPage.screenshot({ path: join(shots, "portal.png"), fullPage: true });
    if (frame.url().includes("token=")) fail("the token stayed in the portal's address");
    // A vendor-only or withheld section by its address shows an allowed one.
    await frame.goto(base + "/portal/settings");
    await portal.getByRole("heading", { name: "Fields" }).waitFor();
    if (await nav.getByText("Settings").count()) fail("a withheld section appeared");
    const text = await frame.evaluate(async () => {
      const get = (p) => fetch(p, { headers: { "X-Fieldflow-Portal": "1" } }).then((r) => r.text());
      return (await get("/api/webhooks")) + (await get("/api/events")) + (await get("/api/field-values/search?pageSize=100")) +
        (await get("/api/automations")) + (await get("/api/keys"));
    });
    for (const other of ["globex", "secret.example.com"]) {
      if (text.includes(other)) fail(`the portal's session reached another tenant's data: ${other}`);
    }
    if (!text.includes("this portal does not include automations")) fail("a withheld section's route answered");
    if (!text.includes("this operation needs an admin key")) fail("an admin route answered the portal");
    await vendorPage.close();
  });

  await step("a portal link works once", async () => {
    const again = await context.newPage();
    await again.goto(globalThis.portalLink);
    await again.getByRole("heading", { name: "This portal link has ended" }).waitFor();
    await again.close();
  });

  await step("a portal session stops at its expiry", async () => {
    const link = await mint({ tenantId: "acme", expiresIn: 5, features: ["webhooks"] });
    const p = await context.newPage();
    await p.goto(link.url);
    await p.getByRole("link", { name: "https://acme.example.com/portal-hook" }).waitFor();
    await p.waitForTimeout(5500);
    await p.reload();
    await p.getByRole("heading", { name: "This portal link has ended" }).waitFor();
    await p.close();
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
  vendor.close();
  rmSync(work, { recursive: true, force: true });
}
