#!/usr/bin/env node
// Drives the kafka-oidc-proxy web console in Debian's headless Chromium (playwright-core with
// executablePath; no browser is ever downloaded), as a user would: log in through the real
// provider's login page, register an identity provider (first with faulty fields, which the
// form names), add an ACL binding and see a denial explained, delete both, log out. It also checks what a user cannot do: a user in no admin
// group is refused, a forged login state is refused, a change without the session's CSRF token
// is refused. Every page is checked with axe-core (WCAG 2 A and AA rules) and photographed.
//
// Environment:
//   KOP_CONSOLE_URL     the console, e.g. http://127.0.0.1:18123/console
//   KOP_CONSOLE_ORG     the organization to work in
//   KOP_PROVIDER_ISSUER the issuer of the provider to register (reachable by the proxy)
//   KOP_BOOTSTRAP       the bootstrap address the connect page must offer
//   KOP_TEST_TOKEN      an access token of that provider (audience and scope kafka)
//   KOP_SHOTS           where the screenshots go
//   KOP_CHROMIUM        the browser (default /usr/bin/chromium)
//   KOP_BROWSER_MODULES the directory whose node_modules hold playwright-core and axe-core
//   KOP_ADMIN, KOP_ADMIN_PASSWORD     a user managing every organization
//   KOP_SCOPED, KOP_SCOPED_PASSWORD   a user managing KOP_CONSOLE_ORG alone
//   KOP_OTHER, KOP_OTHER_PASSWORD     a user in no admin group
// Prints one JSON line: {"ok": bool, "steps": [...], "axe": {page: [violation ids]}, "error"?}.

import fs from 'node:fs'
import path from 'node:path'
import { createRequire } from 'node:module'

// The modules come from KOP_BROWSER_MODULES (where harness/clients/install.sh ran npm ci).
const require = createRequire(path.join(process.env.KOP_BROWSER_MODULES ?? path.dirname(new URL(import.meta.url).pathname), 'package.json'))
const { chromium } = require('playwright-core')
const axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8')

const env = (name, fallback) => {
  const v = process.env[name] ?? fallback
  if (v === undefined) throw new Error(`${name} is not set`)
  return v
}
const consoleUrl = env('KOP_CONSOLE_URL').replace(/\/$/, '')
const org = env('KOP_CONSOLE_ORG')
const issuer = env('KOP_PROVIDER_ISSUER')
const shots = env('KOP_SHOTS')
const result = { ok: false, steps: [], axe: {}, screenshots: [] }

fs.mkdirSync(shots, { recursive: true })

function check (cond, message) {
  if (!cond) throw new Error(message)
}

async function step (page, name) {
  result.steps.push(name)
  const file = path.join(shots, `${String(result.steps.length).padStart(2, '0')}-${name}.png`)
  await page.screenshot({ path: file, fullPage: true })
  result.screenshots.push(file)
}

/** axe-core's WCAG 2 A/AA rules on the page: the ids of what it violates. */
async function axe (page, name) {
  await page.addScriptTag({ content: axeSource })
  const found = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })
    return r.violations.map(v => ({ id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' ')) }))
  })
  result.axe[name] = found
}

async function login (page, user, password) {
  await page.goto(`${consoleUrl}/`)
  // The provider's own login page.
  await page.waitForSelector('#username', { timeout: 30000 })
  check(!page.url().startsWith(consoleUrl), `login page is the provider's, not ${page.url()}`)
  await step(page, `login-page-${user}`)
  await page.fill('#username', user)
  await page.fill('#password', password)
  await Promise.all([page.waitForURL(u => u.toString().startsWith(consoleUrl), { timeout: 30000 }), page.click('#kc-login')])
}

/**
 * KOP_CONSOLE_MODE=refresh: alice logs in, waits KOP_REFRESH_WAIT_S (past the point where her
 * access token must be refreshed), and opens the console again; "left_console" says whether the
 * browser was sent to the provider meanwhile (it must not be: the console refreshes the token
 * with the refresh token, on the server).
 */
async function refresh (browser) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, bypassCSP: true })
  const page = await context.newPage()
  await login(page, env('KOP_ADMIN'), env('KOP_ADMIN_PASSWORD'))
  check(await page.isVisible('h1:has-text("Organizations")'), 'the organizations page after login')
  let leftConsole = false
  page.on('framenavigated', f => { if (f === page.mainFrame() && !f.url().startsWith(consoleUrl)) leftConsole = true })
  await new Promise(resolve => setTimeout(resolve, Number(env('KOP_REFRESH_WAIT_S')) * 1000))
  await page.goto(`${consoleUrl}/`)
  result.after_wait = await page.isVisible('h1:has-text("Organizations")')
  result.left_console = leftConsole
  await step(page, 'after-refresh')
  await context.close()
  result.ok = true
}

async function main () {
  const browser = await chromium.launch({
    executablePath: env('KOP_CHROMIUM', '/usr/bin/chromium'),
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync']
  })
  try {
    if (process.env.KOP_CONSOLE_MODE === 'refresh') return await refresh(browser)
    // A laptop screen.
    const admin = await browser.newContext({ viewport: { width: 1280, height: 800 }, bypassCSP: true })
    const page = await admin.newPage()
    await login(page, env('KOP_ADMIN'), env('KOP_ADMIN_PASSWORD'))
    check(await page.isVisible('h1:has-text("Organizations")'), 'the organizations page after login')
    await step(page, 'organizations')
    await axe(page, 'organizations')

    // An organization by name: no provider yet.
    await page.fill('#open-org', org)
    await Promise.all([page.waitForURL(/\/providers$/), page.click('form.inline button')])
    check(await page.isVisible('text=has no identity provider yet'), 'an empty provider list')
    await step(page, 'providers-empty')
    await axe(page, 'providers-empty')

    // The form names each faulty field, under the field.
    await page.click('text=Register a provider')
    await page.waitForSelector('#f-identifier')
    await axe(page, 'provider-form')
    await page.fill('#f-identifier', `console-${Date.now()}`)
    await page.fill('#f-issuer', 'not a url')
    await Promise.all([page.waitForLoadState('load'), page.click('button:has-text("Register")')])
    const issuerError = await page.textContent('#e-issuer')
    const audienceError = await page.textContent('#e-audience')
    check(issuerError && issuerError.length > 0, 'the issuer error is shown')
    check(audienceError && audienceError.includes('required'), `the audience error is shown: ${audienceError}`)
    check(await page.getAttribute('#f-issuer', 'aria-invalid') === 'true', 'the issuer is marked invalid')
    await step(page, 'provider-form-errors')
    await axe(page, 'provider-form-errors')

    // Corrected: registered, listed.
    const identifier = await page.inputValue('#f-identifier')
    await page.fill('#f-issuer', issuer)
    await page.fill('#f-audience', 'kafka')
    await page.fill('#f-scope', 'kafka')
    await page.fill('#f-token_endpoint_uri', `${issuer}/token`)
    await Promise.all([page.waitForURL(/providers\?done=created/), page.click('button:has-text("Register")')])
    check(await page.isVisible(`th:has-text("${identifier}")`), 'the new provider is listed')
    await step(page, 'providers-registered')
    await axe(page, 'providers-registered')
    result.registered = identifier

    // "Test this provider": its discovery document and keys are reachable; a token of its own is
    // accepted, every check passing.
    await page.click(`a[aria-label="Test ${identifier}"]`)
    await page.waitForSelector('h1:has-text("Test")')
    const fetched = await page.textContent('table')
    check((fetched.match(/✔ reachable/g) || []).length === 2, `discovery and keys reachable: ${fetched}`)
    await axe(page, 'provider-test')
    await page.fill('#t-token', env('KOP_TEST_TOKEN'))
    await Promise.all([page.waitForLoadState('load'), page.click('button:has-text("Check")')])
    const accepted = await page.textContent('section.verdict')
    check(accepted.includes('Accepted') && !accepted.includes('✘'), `the token is accepted: ${accepted}`)
    await step(page, 'provider-test-accepted')
    await axe(page, 'provider-test-accepted')

    // Changed to require another scope: the same token is refused, the scope check failing.
    await page.click('nav.org a:has-text("Identity providers")')
    await page.click(`a[aria-label="Change ${identifier}"]`)
    await page.waitForSelector('h1:has-text("Change an identity provider")')
    check(await page.inputValue('#f-issuer') === issuer, 'the form shows the provider as it is')
    await page.fill('#f-scope', 'other-scope')
    await Promise.all([page.waitForURL(/providers\?done=updated/), page.click('button:has-text("Save")')])
    await page.click(`a[aria-label="Test ${identifier}"]`)
    await page.fill('#t-token', env('KOP_TEST_TOKEN'))
    await Promise.all([page.waitForLoadState('load'), page.click('button:has-text("Check")')])
    const refusedToken = await page.textContent('section.verdict')
    check(refusedToken.includes('Refused: token lacks the required scope') && /✘\s*Scope/.test(refusedToken), `refused for its scope: ${refusedToken}`)
    await step(page, 'provider-test-refused')
    result.token_checks = { accepted: accepted.trim(), refused: refusedToken.trim() }

    // ACL bindings: none yet; the form names a faulty principal; a binding with the operation
    // it implies; found by a filter.
    await page.click('nav.org a:has-text("ACL bindings")')
    await page.waitForSelector('h1:has-text("ACL bindings")')
    check(await page.isVisible('text=No binding yet'), 'an empty binding list')
    await axe(page, 'acls-empty')
    await page.click('text=Add a binding')
    await page.waitForSelector('#f-principal')
    await page.fill('#f-principal', 'Nobody:payments')
    await page.fill('#f-resource_name', 'payments.')
    await page.selectOption('#f-pattern_type', 'PREFIXED')
    await Promise.all([page.waitForLoadState('load'), page.click('button:has-text("Add")')])
    const principalError = await page.textContent('#e-principal')
    check(principalError && principalError.includes('Nobody:payments'), `the principal error is shown: ${principalError}`)
    check(await page.inputValue('#f-resource_name') === 'payments.', 'the form keeps what was typed')
    await step(page, 'acl-form-errors')
    await axe(page, 'acl-form-errors')
    await page.fill('#f-principal', 'Group:payments')
    await Promise.all([page.waitForURL(/acls\?done=created/), page.click('button:has-text("Add")')])
    const row = page.locator('tbody tr', { hasText: 'Group:payments' })
    check(await row.count() === 1, 'the binding is listed')
    check((await row.textContent()).includes('also DESCRIBE'), 'the implied operation is shown')
    await page.fill('#q-principal', 'Group:nobody')
    await Promise.all([page.waitForURL(/principal=Group/), page.click('button:has-text("Filter")')])
    check(await page.isVisible('text=No binding matches these filters'), 'a filter that matches nothing')
    await page.fill('#q-principal', 'Group:payments')
    await Promise.all([page.waitForURL(/principal=Group%3Apayments/), page.click('button:has-text("Filter")')])
    check(await page.locator('tbody tr').count() === 1, 'a filter that matches the binding')
    await step(page, 'acls')
    await axe(page, 'acls')

    // "Why was I denied?": a read under the prefix is allowed by the binding, a write is not.
    await page.click('nav.org a:has-text("Why was I denied?")')
    await page.fill('#w-user', 'dana')
    await page.fill('#w-groups', 'payments, finance')
    await page.selectOption('#w-operation', 'READ')
    await page.selectOption('#w-type', 'TOPIC')
    await page.fill('#w-name', 'payments.orders')
    await Promise.all([page.waitForURL(/why\?/), page.click('button:has-text("Decide")')])
    const allowed = await page.textContent('section.verdict')
    check(allowed.includes('Allowed') && allowed.includes('Group:payments READ on TOPIC:PREFIXED:payments.'), `allowed by the binding: ${allowed}`)
    await step(page, 'why-allowed')
    await axe(page, 'why-allowed')
    await page.selectOption('#w-operation', 'WRITE')
    await Promise.all([page.waitForURL(/operation=WRITE/), page.click('button:has-text("Decide")')])
    const denied = await page.textContent('section.verdict')
    check(denied.includes('Denied') && denied.includes('no binding'), `denied for want of a binding: ${denied}`)
    await step(page, 'why-denied')
    result.why = { allowed: allowed.trim(), denied: denied.trim() }

    // Client settings: the test's listener and the provider's token endpoint, for each library.
    await page.click('nav.org a:has-text("Connect")')
    await page.waitForSelector('#settings-librdkafka')
    const settings = {}
    for (const id of ['librdkafka', 'java', 'kafkajs']) settings[id] = await page.textContent(`#settings-${id}`)
    for (const [id, text] of Object.entries(settings)) {
      check(text.includes(`${issuer}/token`), `${id} settings name the token endpoint: ${text}`)
      check(text.includes(env('KOP_BOOTSTRAP')), `${id} settings name the cluster: ${text}`)
    }
    result.settings = settings
    await step(page, 'connect')
    await axe(page, 'connect')

    // The binding deleted.
    await page.click('nav.org a:has-text("ACL bindings")')
    await Promise.all([page.waitForURL(/acls\?done=deleted/), page.click('tbody tr button.danger')])
    check(await page.isVisible('text=No binding yet'), 'the binding is gone')
    await page.click('nav.org a:has-text("Identity providers")')
    await page.waitForSelector(`th:has-text("${identifier}")`)

    // A change without the session's CSRF token is refused, with the session's cookies.
    const forged = await page.request.post(`${consoleUrl}/orgs/${encodeURIComponent(org)}/providers`, {
      form: { csrf: 'forged', identifier: 'csrf', issuer, audience: 'kafka' },
      maxRedirects: 0
    })
    result.forged_csrf_status = forged.status()
    check(forged.status() === 403, `a forged CSRF token: ${forged.status()}`)

    // A phone.
    await page.setViewportSize({ width: 390, height: 844 })
    await step(page, 'providers-phone')
    await page.setViewportSize({ width: 1280, height: 800 })

    // Deleted.
    await Promise.all([page.waitForURL(/providers\?done=deleted/), page.click(`button[aria-label="Delete ${identifier}"]`)])
    check(!(await page.isVisible(`th:has-text("${identifier}")`)), 'the deleted provider is gone')
    await step(page, 'providers-deleted')

    // A login state this browser did not start is refused.
    const stateAnswer = await page.goto(`${consoleUrl}/callback?code=forged&state=forged`)
    result.forged_state_status = stateAnswer.status()
    check(stateAnswer.status() === 400, `a forged state: ${stateAnswer.status()}`)
    check(await page.isVisible('h1:has-text("Login refused")'), 'the refusal page')
    await step(page, 'forged-state')
    await axe(page, 'forged-state')

    // Logout ends the console's session and the provider's: the console asks for a login again.
    await page.goto(`${consoleUrl}/`)
    await page.click('button:has-text("Log out")')
    await page.waitForSelector('#username', { timeout: 30000 })
    await page.goto(`${consoleUrl}/`)
    await page.waitForSelector('#username', { timeout: 30000 })
    result.logged_out = true
    await step(page, 'logged-out')
    await admin.close()

    // A user whose admin group gives one organization sees that one alone; another answers
    // as if it did not exist.
    const scoped = await browser.newContext({ viewport: { width: 1280, height: 800 }, bypassCSP: true })
    const scopedPage = await scoped.newPage()
    await login(scopedPage, env('KOP_SCOPED'), env('KOP_SCOPED_PASSWORD'))
    const listed = await scopedPage.locator('ul.cards li').allTextContents()
    check(listed.length === 1 && listed[0].trim() === org, `only ${org} is listed: ${listed}`)
    check(!(await scopedPage.isVisible('#open-org')), 'no way to open another organization')
    await step(scopedPage, 'organizations-scoped')
    await axe(scopedPage, 'organizations-scoped')
    const elsewhere = await scopedPage.goto(`${consoleUrl}/orgs/${encodeURIComponent(org)}-other/providers`)
    result.other_org_status = elsewhere.status()
    check(elsewhere.status() === 404, `another organization: ${elsewhere.status()}`)
    await step(scopedPage, 'other-organization')
    await scoped.close()

    // A user in no admin group is refused after logging in.
    const other = await browser.newContext({ viewport: { width: 1280, height: 800 }, bypassCSP: true })
    const otherPage = await other.newPage()
    await login(otherPage, env('KOP_OTHER'), env('KOP_OTHER_PASSWORD'))
    check(await otherPage.isVisible('h1:has-text("Not an administrator")'), 'a user in no admin group is refused')
    await step(otherPage, 'not-an-administrator')
    await axe(otherPage, 'not-an-administrator')
    await other.close()
    result.ok = true
  } finally {
    await browser.close()
  }
}

main().catch(e => {
  result.error = String(e && e.stack ? e.stack : e)
}).finally(() => {
  process.stdout.write(JSON.stringify(result) + '\n')
})
