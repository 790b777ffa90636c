#!/usr/bin/env node
/*
 * Kafka scenarios with kafkajs 2.x, used the way an ordinary application would.
 * Run through harness/clients/run.sh kafkajs SCENARIO --bootstrap HOST:PORT[,...] [options]
 *
 * basic         admin-create a topic (6 partitions, RF 3); produce N keyed messages with
 *               acks=all; a consumer group reads them from the beginning: every key exactly
 *               once with its exact value; admin-delete the topic and see it gone.
 * group         produce N; consumer A (explicit commitOffsets) reads part, then pauses until
 *               consumer B joins the same group; a rebalance must move partitions from A to B;
 *               together they process all N (duplicates reported, not failed); after both
 *               disconnect, the group's committed offsets must equal every partition's end.
 * acks0         one acks=1 record to every partition (so every leader accepts writes), then
 *               N with acks=0, then a marker with acks=1: >= 99% of the N and the marker
 *               must be readable (the proxy must not hang on acks=0).
 * idempotent    like basic with idempotent: true: exactly once.
 * transactions  a transactional producer commits one batch and aborts another; a
 *               read-committed consumer sees exactly the committed batch.
 * admin         the admin client's topic, config, partition, group and record administration on
 *               a topic of its own: after N records, listTopics ("listed_topics"), alterConfigs
 *               retention.ms (kafkajs sends the legacy AlterConfigs) and describeConfigs
 *               ("retention_ms"), createPartitions to --partitions + 1 ("partitions"), setOffsets
 *               of group --group at every partition's end, listGroups ("listed_groups"),
 *               describeGroups ("group_state"), fetchOffsets ("committed"), and
 *               deleteTopicRecords of partition 0 ("low_watermark"); each must hold.
 * brokers       every broker address the client learns (describeCluster brokers and
 *               controller, topic metadata partition leaders and replicas).
 * auth-fail     connect with the given credentials (produce one message, then admin
 *               listTopics): passes only if kafkajs reports an authentication failure
 *               (KafkaJSSASLAuthenticationError, SASL_AUTHENTICATION_FAILED) before the deadline;
 *               "error_text" holds it, "auth_error_source" is broker or token_endpoint.
 * reauth        a producer (acks=all) and a consumer run for --duration-s at --rate msg/s on one
 *               topic; every acknowledged message must be consumed and no authentication error
 *               reported. kafkajs re-authenticates lazily (KIP-368): before a request, once less
 *               than reauthenticationThreshold (10 s default) of the session is left.
 *               "reauthentications" = SASL authentications - connections (from kafkajs's debug
 *               log), "token_fetches"/"token_calls" from the token provider.
 * authz-produce (--topics A,B) one producer (acks=all) sends one record to each topic:
 *               "produce" {topic: "ok" | error name}, "delivered_offsets" {topic: offset}.
 * authz-consume (--topics A,B --group G) a consumer in G subscribes (from the beginning) and runs
 *               for --duration-s (10) or until it crashes, then commits the offsets after the
 *               records it got: "consume", "records", "commit" ("skipped" after an error).
 * authz-admin   one admin client: listTopics ("list_topics": sorted names), then --create A,B
 *               (1 partition, --replication-factor), --delete A,B and --describe-group G, each
 *               independent: "create"/"delete" {topic: result}, "describe_group".
 * authz-txn     (--topic T --transactional-id X) transaction() (init and begin in one call),
 *               send one record, commit: "txn" and "step" (init|send|commit|done).
 *               The authz-* scenarios report, they do not judge: "ok" is true when they ran to
 *               the end, refusals included. An error is reported by its kafkajs type (the Kafka
 *               error name, e.g. TOPIC_AUTHORIZATION_FAILED), else its name (e.g.
 *               KafkaJSGroupCoordinatorNotFound, which is what kafkajs makes of a refused
 *               FindCoordinator; the refusals it dropped are in "coordinator_errors"); its text
 *               in "error_texts". Every operation is bounded to ~15 s.
 *
 * OAUTHBEARER (--security-protocol SASL_PLAINTEXT|SASL_SSL): sasl.oauthBearerProvider returns
 * { value } from a client-credentials grant (node fetch, client_secret_basic), cached by the
 * program until 80% of the token's lifetime has passed.
 *
 * Output: one JSON line on stdout ({"ok":...}); exit 0 only if every check passed, 1 on a
 * failed check or error (reason on stderr), 2 on bad usage, 3 when the hard --timeout expired.
 * Every topic the program creates is deleted at the end (unless --keep-topic).
 */
'use strict'

const fs = require('fs')
const crypto = require('crypto')
const { parseArgs } = require('util')
const { ConfigResourceTypes, Kafka, logLevel, Partitioners } = require('kafkajs')

const USAGE = `usage: scenarios.js SCENARIO --bootstrap HOST:PORT[,...] [--topic T] [--group G]
  [--messages N] [--partitions P] [--replication-factor R]
  [--security-protocol PLAINTEXT|SSL|SASL_PLAINTEXT|SASL_SSL] [--ca-file PEM] [--timeout S] [--keep-topic]
  [--sasl-mechanism OAUTHBEARER] [--oauth-token-url URL] [--oauth-client-id ID]
  [--oauth-client-secret SECRET] [--oauth-scope SCOPE]
  [--duration-s S] [--rate MSG_PER_S] [--min-reauth N] [--expect-error REGEX]
  [--topics A,B] [--create A,B] [--delete A,B] [--describe-group G] [--transactional-id X]
scenarios: basic group acks0 idempotent transactions admin brokers auth-fail reauth
  authz-produce authz-consume authz-admin authz-txn`

// ---- options, result line, checks, deadline ------------------------------------------------

function parseOptions (argv) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      bootstrap: { type: 'string' },
      topic: { type: 'string', multiple: true },
      topics: { type: 'string', multiple: true },
      create: { type: 'string', multiple: true },
      delete: { type: 'string', multiple: true },
      'describe-group': { type: 'string' },
      'transactional-id': { type: 'string' },
      group: { type: 'string' },
      messages: { type: 'string', default: '10000' },
      partitions: { type: 'string', default: '6' },
      'replication-factor': { type: 'string', default: '3' },
      'security-protocol': { type: 'string', default: 'PLAINTEXT' },
      'ca-file': { type: 'string' },
      timeout: { type: 'string' },
      'keep-topic': { type: 'boolean', default: false },
      'sasl-mechanism': { type: 'string' },
      'oauth-token-url': { type: 'string' },
      'oauth-client-id': { type: 'string' },
      'oauth-client-secret': { type: 'string' },
      'oauth-scope': { type: 'string' },
      'duration-s': { type: 'string' },
      rate: { type: 'string', default: '20' },
      'min-reauth': { type: 'string', default: '0' },
      'expect-error': { type: 'string' }
    }
  })
  const tag = crypto.randomBytes(5).toString('hex')
  const opts = {
    scenario: positionals[0],
    bootstrap: values.bootstrap,
    messages: Number(values.messages),
    partitions: Number(values.partitions),
    replicationFactor: Number(values['replication-factor']),
    securityProtocol: values['security-protocol'].toUpperCase(),
    caFile: values['ca-file'],
    keepTopic: values['keep-topic'],
    saslMechanism: values['sasl-mechanism'] && values['sasl-mechanism'].toUpperCase(),
    oauthTokenUrl: values['oauth-token-url'],
    oauthClientId: values['oauth-client-id'],
    oauthClientSecret: values['oauth-client-secret'],
    oauthScope: values['oauth-scope'],
    durationS: Number(values['duration-s'] ?? (positionals[0] === 'authz-consume' ? '10' : '30')),
    rate: Number(values.rate),
    minReauth: Number(values['min-reauth']),
    expectError: values['expect-error'],
    // authz-*: every --topic and --topics value, once each
    topics: unique([...(values.topic || []), ...(values.topics || []).flatMap(splitList)]),
    create: unique((values.create || []).flatMap(splitList)),
    delete: unique((values.delete || []).flatMap(splitList)),
    describeGroup: values['describe-group'],
    transactionalId: values['transactional-id'],
    tag
  }
  if (positionals.length !== 1 || !(opts.scenario in SCENARIOS)) throw new Error(`missing or unknown scenario: ${positionals}`)
  opts.timeoutS = values.timeout !== undefined ? Number(values.timeout) : opts.scenario === 'reauth' ? opts.durationS + 90 : 120
  if (!opts.bootstrap) throw new Error('--bootstrap is required')
  if (!['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL'].includes(opts.securityProtocol)) {
    throw new Error('--security-protocol must be PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL')
  }
  if (opts.securityProtocol.startsWith('SASL_')) {
    opts.saslMechanism = opts.saslMechanism || 'OAUTHBEARER'
    if (opts.saslMechanism !== 'OAUTHBEARER') throw new Error('--sasl-mechanism must be OAUTHBEARER')
    if (!opts.oauthTokenUrl || !opts.oauthClientId || !opts.oauthClientSecret) {
      throw new Error(`${opts.securityProtocol} with OAUTHBEARER needs --oauth-token-url, --oauth-client-id and --oauth-client-secret`)
    }
  } else if (opts.saslMechanism) {
    throw new Error('--sasl-mechanism needs --security-protocol SASL_PLAINTEXT or SASL_SSL')
  }
  if (!(opts.durationS > 0) || !(opts.rate > 0) || !(opts.minReauth >= 0)) throw new Error('--duration-s, --rate and --min-reauth must be positive numbers')
  if (!(opts.messages >= 1) || !(opts.timeoutS > 0)) throw new Error('--messages and --timeout must be positive numbers')
  if (['authz-produce', 'authz-consume', 'authz-txn'].includes(opts.scenario) && !opts.topics.length) throw new Error(`${opts.scenario} needs --topic or --topics`)
  if (opts.scenario === 'authz-txn') {
    if (opts.topics.length !== 1) throw new Error('authz-txn takes exactly one --topic')
    if (!opts.transactionalId) throw new Error('authz-txn needs --transactional-id')
  }
  opts.topic = (values.topic && values.topic[values.topic.length - 1]) || `kop-kafkajs-${opts.scenario}-${tag}`
  opts.group = values.group || `kop-kafkajs-${opts.scenario}-${tag}`
  return opts
}

/** A comma-separated list option: the non-empty, trimmed items. */
function splitList (v) {
  return v.split(',').map(s => s.trim()).filter(s => s)
}

function unique (list) {
  return [...new Set(list)]
}

const result = {}
const failures = []
const started = Date.now()
let scenarioName = '?'

function check (cond, message) {
  if (!cond) failures.push(message)
  return cond
}

function log (message) {
  process.stderr.write(`[kafkajs ${scenarioName}] ${message}\n`)
}

function finish (ok, error, code) {
  const line = { ok, ...result, duration_s: (Date.now() - started) / 1000 }
  if (failures.length) line.failures = failures
  if (error) line.error = error
  fs.writeSync(1, JSON.stringify(line) + '\n')
  if (!ok) fs.writeSync(2, `FAIL kafkajs ${scenarioName}: ${error || failures.join('; ')}\n`)
  process.exit(code ?? (ok ? 0 : 1))
}

/** Soft deadline for waits; it ends a little before the hard watchdog so we can still report. */
function makeDeadline (timeoutS) {
  const end = Date.now() + Math.max(1, timeoutS - Math.min(10, timeoutS * 0.15)) * 1000
  return {
    remaining: (capMs = Infinity) => Math.max(0, Math.min(capMs, end - Date.now())),
    expired: () => Date.now() >= end
  }
}

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

/** A promise plus its resolve function and whether it was resolved. */
function deferred () {
  const d = { done: false }
  d.promise = new Promise(resolve => { d.resolve = () => { d.done = true; resolve() } })
  return d
}

// ---- client configuration: the one place for connection and security options --------------

/**
 * SASL events seen in kafkajs's log: kafkajs has no other way to tell about re-authentications,
 * and its retries turn an authentication failure into a later, different error.
 */
const saslEvents = { connects: 0, authentications: 0, authErrors: [] }
const AUTH_ERROR = /SASL_AUTHENTICATION_FAILED|SASL \w+ authentication failed|Authentication failed|invalid_token|invalid credentials/i
// kafkajs ignores the server's OAUTHBEARER error challenge ({"status":"invalid_token"} in the
// SaslAuthenticate response's auth bytes, RFC 7628 3.2.2) and takes the exchange as a success;
// its next request is then answered with ILLEGAL_SASL_STATE and the connection is closed. For
// kafkajs that is what a refused token looks like.
const SASL_STATE_ERROR = /ILLEGAL_SASL_STATE|not valid given the current SASL state/i

/**
 * Error types of FindCoordinator responses, from kafkajs's debug log: kafkajs asks every broker
 * in turn, drops each error that is not GROUP_COORDINATOR_NOT_AVAILABLE, and then reports only
 * KafkaJSGroupCoordinatorNotFound (cluster/index.js findGroupCoordinatorMetadata, brokerPool
 * withBroker). The authz-* scenarios show them as "coordinator_errors".
 */
const coordinatorErrors = new Set()

/**
 * kafkajs logs through console (stdout) by default: send everything to stderr instead, and
 * only up to WARN (the reauth and auth-fail scenarios run at DEBUG to count SASL events).
 */
const stderrLogCreator = () => ({ namespace, level, label, log: entry }) => {
  const { message, ...rest } = entry
  if (message === 'Tried to find group coordinator' && rest.error && rest.error.type) coordinatorErrors.add(rest.error.type)
  if (message === 'Connecting') saslEvents.connects++
  else if (/^SASL \w+ authentication successful/.test(message)) saslEvents.authentications++
  else if (level <= logLevel.WARN) {
    const text = rest.error ? `${message}: ${rest.error}` : message
    if (AUTH_ERROR.test(text) || SASL_STATE_ERROR.test(text)) saslEvents.authErrors.push(text)
  }
  if (level > logLevel.WARN) return
  process.stderr.write(`[kafkajs ${label}] ${namespace}: ${message} ${JSON.stringify(rest)}\n`)
}

/**
 * The application's OAUTHBEARER token provider: an access token from the token endpoint by the
 * client-credentials grant (client_secret_basic), shared by every connection and fetched anew
 * once 80% of its lifetime has passed. kafkajs calls it for every SASL authentication.
 */
function makeTokenProvider (opts) {
  const enc = s => encodeURIComponent(s) // RFC 6749 2.3.1
  const authorization = 'Basic ' + Buffer.from(`${enc(opts.oauthClientId)}:${enc(opts.oauthClientSecret)}`).toString('base64')
  const state = { calls: 0, fetches: 0, errors: [], token: null, refreshAt: 0, inflight: null }
  async function fetchToken () {
    const form = new URLSearchParams({ grant_type: 'client_credentials' })
    if (opts.oauthScope) form.set('scope', opts.oauthScope)
    const began = Date.now()
    let res, text
    try {
      res = await fetch(opts.oauthTokenUrl, {
        method: 'POST',
        headers: { authorization, accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' },
        body: form,
        signal: AbortSignal.timeout(10000)
      })
      text = await res.text()
    } catch (e) {
      state.errors.push(`token request failed: ${e.message}${e.cause ? ` (${e.cause.message || e.cause})` : ''}`)
      throw new Error(state.errors[state.errors.length - 1])
    }
    if (!res.ok) {
      state.errors.push(`token endpoint answered HTTP ${res.status}: ${text.slice(0, 300)}`)
      throw new Error(state.errors[state.errors.length - 1])
    }
    const doc = JSON.parse(text)
    if (!doc.access_token) {
      state.errors.push(`no access_token in the token response: ${text.slice(0, 300)}`)
      throw new Error(state.errors[state.errors.length - 1])
    }
    state.fetches++
    state.token = doc.access_token
    state.refreshAt = began + 0.8 * 1000 * Number(doc.expires_in || 300)
  }
  async function provider () {
    state.calls++
    if (state.token === null || Date.now() >= state.refreshAt) {
      state.inflight = state.inflight || fetchToken().finally(() => { state.inflight = null })
      await state.inflight
    }
    return { value: state.token }
  }
  provider.state = state
  return provider
}

let tokenProvider = null

function clientConfig (opts) {
  const config = {
    clientId: `kop-kafkajs-${opts.scenario}`,
    brokers: opts.bootstrap.split(','),
    logLevel: ['reauth', 'auth-fail'].includes(opts.scenario) || opts.scenario.startsWith('authz-') ? logLevel.DEBUG : logLevel.WARN,
    logCreator: stderrLogCreator,
    connectionTimeout: 10000,
    requestTimeout: 30000
  }
  if (opts.scenario.startsWith('authz-')) {
    // Each request bounded to 10 s and few retries, so that a refusal kafkajs retries (or does
    // not recognise) still ends within about AUTHZ_OP_MS.
    config.requestTimeout = 10000
    config.retry = { retries: 2, initialRetryTime: 300, maxRetryTime: 3000 }
  }
  if (opts.securityProtocol === 'SSL' || opts.securityProtocol === 'SASL_SSL') {
    config.ssl = opts.caFile ? { ca: [fs.readFileSync(opts.caFile, 'utf8')] } : true
  }
  if (opts.saslMechanism === 'OAUTHBEARER') {
    tokenProvider = tokenProvider || makeTokenProvider(opts)
    config.sasl = { mechanism: 'oauthbearer', oauthBearerProvider: tokenProvider }
  }
  return config
}

// ---- topic helpers --------------------------------------------------------------------------

async function deleteTopic (admin, opts, deadline) {
  await admin.deleteTopics({ topics: [opts.topic], timeout: deadline.remaining(30000) })
  while ((await admin.listTopics()).includes(opts.topic)) {
    if (deadline.expired()) {
      check(false, `topic ${opts.topic} still listed after delete`)
      return
    }
    await sleep(200)
  }
  result.topic_deleted = true
}

/** Delete consumer group --group (left behind by the scenario's consumers), if it exists. */
async function deleteGroup (admin, opts, deadline) {
  while (true) {
    try {
      await admin.deleteGroups([opts.group])
      result.group_deleted = true
      return
    } catch (e) {
      const type = e.groups && e.groups[0] && e.groups[0].error && e.groups[0].error.type
      if (type === 'GROUP_ID_NOT_FOUND') return
      if (type !== 'NON_EMPTY_GROUP' || deadline.expired()) throw e
      await sleep(500) // a member's LeaveGroup is still being processed
    }
  }
}

/** Create the topic, run body(admin), delete the topic (also when the body failed) and the group. */
async function withTopic (kafka, opts, deadline, body) {
  const admin = kafka.admin()
  await admin.connect()
  try {
    const created = await admin.createTopics({
      topics: [{ topic: opts.topic, numPartitions: opts.partitions, replicationFactor: opts.replicationFactor }],
      waitForLeaders: true,
      timeout: deadline.remaining(30000)
    })
    if (!created) throw new Error(`topic ${opts.topic} already exists`)
    try {
      await body(admin)
    } catch (e) {
      if (!opts.keepTopic) await deleteTopic(admin, opts, deadline).catch(d => log(`cleanup: could not delete ${opts.topic}: ${d}`))
      throw e
    }
    if (!opts.keepTopic) {
      await deleteTopic(admin, opts, deadline)
      await deleteGroup(admin, opts, deadline)
    }
  } finally {
    await admin.disconnect()
  }
}

/** Map partition -> high watermark, and the number of records in the topic. */
async function endOffsets (admin, opts) {
  const offsets = await admin.fetchTopicOffsets(opts.topic)
  const end = {}
  let records = 0
  for (const p of offsets) {
    end[p.partition] = Number(p.high)
    records += Number(p.high) - Number(p.low)
  }
  return { end, records }
}

// ---- produce / consume helpers ----------------------------------------------------------------

function messages (opts, prefix = 'k') {
  return Array.from({ length: opts.messages }, (_, i) => [`${prefix}-${i}`, `v-${i}-${opts.tag}`])
}

const BATCH = 1000

/** Send every pair in batches of BATCH; returns how many sends were acknowledged. */
async function produce (kafka, opts, pairs, { acks = -1, idempotent = false } = {}) {
  const producer = kafka.producer({ idempotent, allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner })
  await producer.connect()
  let acked = 0
  try {
    for (let i = 0; i < pairs.length; i += BATCH) {
      const batch = pairs.slice(i, i + BATCH).map(([key, value, partition]) => ({ key, value, partition }))
      await producer.send({ topic: opts.topic, messages: batch, acks, timeout: 30000 })
      acked += batch.length
    }
  } finally {
    await producer.disconnect()
  }
  return acked
}

/**
 * Subscribe with group --group from the beginning; read until `total` messages arrived and then
 * `settleMs` more (to catch extras), or until nothing new arrived for `idleMs` once something
 * did. Returns [[key, value], ...].
 */
async function consume (kafka, opts, deadline, total, { settleMs = 0, idleMs = 0, readUncommitted = false } = {}) {
  const consumer = kafka.consumer({ groupId: opts.group, readUncommitted })
  const got = []
  let crashed = null
  let settling = false
  let idleTimer = null
  const enough = deferred()
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    if (!payload.restart) { crashed = payload.error; enough.resolve() }
  })
  await consumer.connect()
  try {
    await consumer.subscribe({ topic: opts.topic, fromBeginning: true })
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) got.push([m.key.toString(), m.value.toString()])
        if (idleMs && batch.messages.length) {
          clearTimeout(idleTimer)
          idleTimer = setTimeout(enough.resolve, idleMs)
        }
        if (got.length >= total && !settling) {
          settling = true
          setTimeout(enough.resolve, settleMs)
        }
      }
    })
    await Promise.race([enough.promise, sleep(deadline.remaining())])
  } finally {
    clearTimeout(idleTimer)
    await consumer.disconnect()
  }
  if (crashed) throw crashed
  return got
}

/** Every expected key exactly once with its exact value, and nothing else. */
function verifyExactlyOnce (expected, got) {
  const seen = new Map()
  let wrong = 0
  let unexpected = 0
  for (const [k, v] of got) {
    seen.set(k, (seen.get(k) || 0) + 1)
    if (!expected.has(k)) unexpected++
    else if (expected.get(k) !== v) wrong++
  }
  const missing = [...expected.keys()].filter(k => !seen.has(k)).length
  const duplicates = [...seen.values()].reduce((a, c) => a + c - 1, 0)
  Object.assign(result, { consumed: got.length, missing, duplicates, wrong_value: wrong, unexpected })
  check(missing === 0, `${missing} of ${expected.size} messages missing`)
  check(duplicates === 0, `${duplicates} duplicate messages`)
  check(wrong === 0, `${wrong} messages with a wrong value`)
  check(unexpected === 0, `${unexpected} unexpected messages`)
}

// ---- scenarios ----------------------------------------------------------------------------------

async function basic (kafka, opts, deadline, { idempotent = false } = {}) {
  await withTopic(kafka, opts, deadline, async admin => {
    const expected = new Map(messages(opts))
    result.produced = await produce(kafka, opts, [...expected], { acks: -1, idempotent })
    const { records } = await endOffsets(admin, opts)
    result.records_in_topic = records
    verifyExactlyOnce(expected, await consume(kafka, opts, deadline, records))
  })
}

async function admin (kafka, opts, deadline) {
  await withTopic(kafka, opts, deadline, async admin => {
    result.produced = await produce(kafka, opts, messages(opts))
    result.listed_topics = (await admin.listTopics()).sort()
    check(result.listed_topics.includes(opts.topic), `${opts.topic} is not listed`)

    const topic = { type: ConfigResourceTypes.TOPIC, name: opts.topic }
    await admin.alterConfigs({ resources: [{ ...topic, configEntries: [{ name: 'retention.ms', value: '3600000' }] }] })
    // Brokers learn a change of configuration from the controller: a describe right after the
    // alter may come before it.
    while (true) {
      const described = await admin.describeConfigs({ includeSynonyms: false, resources: [{ ...topic, configNames: ['retention.ms'] }] })
      const entry = described.resources[0].configEntries.find(e => e.configName === 'retention.ms')
      result.retention_ms = entry && entry.configValue
      if (result.retention_ms === '3600000' || deadline.expired()) break
      await sleep(200)
    }
    check(result.retention_ms === '3600000', `retention.ms reads ${result.retention_ms}`)

    await admin.createPartitions({ topicPartitions: [{ topic: opts.topic, count: opts.partitions + 1 }] })
    while (true) {
      const md = await admin.fetchTopicMetadata({ topics: [opts.topic] })
      result.partitions = md.topics[0].partitions.length
      if (result.partitions === opts.partitions + 1 || deadline.expired()) break
      await sleep(200)
    }
    check(result.partitions === opts.partitions + 1, `${result.partitions} partitions after createPartitions`)

    const { end, records } = await endOffsets(admin, opts)
    const partitions = Object.entries(end).map(([partition, offset]) => ({ partition: Number(partition), offset: String(offset) }))
    await admin.setOffsets({ groupId: opts.group, topic: opts.topic, partitions })
    // On a young cluster the group's coordinator may still be loading its partition: the
    // listing is asked again until it names the group.
    while (true) {
      result.listed_groups = (await admin.listGroups()).groups.map(g => g.groupId).sort()
      if (result.listed_groups.includes(opts.group) || deadline.expired()) break
      await sleep(200)
    }
    check(result.listed_groups.includes(opts.group), `${opts.group} is not listed`)
    result.group_state = (await admin.describeGroups([opts.group])).groups[0].state
    const committed = await admin.fetchOffsets({ groupId: opts.group, topics: [opts.topic] })
    result.committed = committed[0].partitions.reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0)
    check(result.committed === records, `${result.committed} of ${records} records committed`)

    await admin.deleteTopicRecords({ topic: opts.topic, partitions: [{ partition: 0, offset: String(end[0]) }] })
    const low = (await admin.fetchTopicOffsets(opts.topic)).find(p => p.partition === 0).low
    result.low_watermark = Number(low)
    check(result.low_watermark === end[0], `partition 0 starts at ${low}, not ${end[0]}`)
  })
}

async function idempotent (kafka, opts, deadline) {
  await basic(kafka, opts, deadline, { idempotent: true })
}

async function acks0 (kafka, opts, deadline) {
  await withTopic(kafka, opts, deadline, async admin => {
    const pairs = messages(opts)
    // A leader that has not yet taken up a just-created partition refuses a write; with acks=0
    // it refuses by closing the connection, and every batch pipelined behind it is lost. One
    // acks=1 record per partition (retried until accepted) first makes every leader ready.
    const readyPairs = Array.from({ length: opts.partitions }, (_, p) => [`ready-${p}`, 'ready', p])
    const ready = await produce(kafka, opts, readyPairs, { acks: 1 })
    result.produced = await produce(kafka, opts, pairs, { acks: 0 })
    const marker = ['marker', `marker-${opts.tag}`]
    await produce(kafka, opts, [marker], { acks: 1 })
    // With acks=0/1 the high watermark may still lag (followers catching up), so read until
    // everything or until 5 s pass without a new message.
    const got = await consume(kafka, opts, deadline, ready + opts.messages + 1, { idleMs: 5000 })
    const keys = new Set(got.map(([k]) => k))
    const arrived = pairs.filter(([k]) => keys.has(k)).length
    const markerSeen = got.some(([k, v]) => k === marker[0] && v === marker[1])
    const { records } = await endOffsets(admin, opts)
    Object.assign(result, { consumed: got.length, arrived, marker_seen: markerSeen, records_in_topic: records })
    check(markerSeen, 'acks=1 marker not consumed')
    check(arrived >= 0.99 * opts.messages, `only ${arrived} of ${opts.messages} acks=0 messages arrived (< 99%)`)
  })
}

async function transactions (kafka, opts, deadline) {
  await withTopic(kafka, opts, deadline, async () => {
    const committed = new Map(messages(opts, 'k'))
    const aborted = messages(opts, 'x')
    const producer = kafka.producer({
      transactionalId: `kop-tx-${opts.tag}`, idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner
    })
    await producer.connect()
    try {
      for (const [pairs, commit] of [[[...committed], true], [aborted, false]]) {
        const tx = await producer.transaction()
        try {
          for (let i = 0; i < pairs.length; i += BATCH) {
            await tx.send({ topic: opts.topic, messages: pairs.slice(i, i + BATCH).map(([key, value]) => ({ key, value })) })
          }
        } catch (e) {
          await tx.abort()
          throw e
        }
        await (commit ? tx.commit() : tx.abort())
      }
    } finally {
      await producer.disconnect()
    }
    result.produced_committed = committed.size
    result.produced_aborted = aborted.length
    verifyExactlyOnce(committed, await consume(kafka, opts, deadline, committed.size, { settleMs: 3000 }))
  })
}

async function group (kafka, opts, deadline) {
  await withTopic(kafka, opts, deadline, async admin => {
    const expected = new Map(messages(opts))
    result.produced = await produce(kafka, opts, [...expected])
    const processed = new Map() // key -> times processed (by A or B)
    const counts = { A: 0, B: 0 }
    const history = { A: [], B: [] } // assignments seen by each member, in order
    let commitFailures = 0
    let crashed = null
    const startB = deferred()
    const bAssigned = deferred()
    const done = deferred()
    const failed = deferred()
    const members = {}

    async function member (name) {
      // Small fetches, so that A cannot take every message in its first fetch response.
      const c = kafka.consumer({ groupId: opts.group, maxBytesPerPartition: 16384 })
      members[name] = c
      c.on(c.events.GROUP_JOIN, ({ payload }) => {
        const parts = [...(payload.memberAssignment[opts.topic] || [])].sort((a, b) => a - b)
        history[name].push(parts)
        if (name === 'B' && parts.length && !bAssigned.done) {
          bAssigned.resolve()
          members.A.resume([{ topic: opts.topic }]) // A leaves work for B until B is assigned
        }
      })
      c.on(c.events.CRASH, ({ payload }) => {
        if (!payload.restart) { crashed = payload.error; failed.resolve() }
      })
      await c.connect()
      await c.subscribe({ topic: opts.topic, fromBeginning: true })
      await c.run({
        autoCommit: false,
        eachBatch: async ({ batch }) => {
          if (batch.messages.length === 0) return
          for (const m of batch.messages) {
            const key = m.key.toString()
            processed.set(key, (processed.get(key) || 0) + 1)
            counts[name]++
          }
          if (counts.A >= Math.floor(opts.messages / 3) && !startB.done) {
            c.pause([{ topic: opts.topic }])
            startB.resolve()
          }
          if (processed.size >= expected.size) done.resolve()
          const next = (BigInt(batch.messages[batch.messages.length - 1].offset) + 1n).toString()
          try {
            await c.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: next }])
          } catch (e) { // e.g. a rebalance in progress: at-least-once, the next owner re-reads
            commitFailures++
            log(`${name}: commit failed: ${e.message}`)
          }
        }
      })
    }

    try {
      await member('A')
      await Promise.race([startB.promise, failed.promise, sleep(deadline.remaining())])
      await member('B')
      // Until all is processed and B took part (even if A alone could have read it all).
      await Promise.race([Promise.all([done.promise, bAssigned.promise]), failed.promise, sleep(deadline.remaining())])
    } finally {
      await Promise.all(Object.values(members).map(c => c.disconnect()))
    }
    if (crashed) throw crashed

    const missing = [...expected.keys()].filter(k => !processed.has(k)).length
    const aSizes = history.A.filter(a => a.length).map(a => a.length)
    Object.assign(result, {
      consumed_a: counts.A,
      consumed_b: counts.B,
      missing,
      duplicates: [...processed.values()].reduce((a, c) => a + c - 1, 0),
      assignments_a: history.A,
      assignments_b: history.B,
      commit_failures: commitFailures
    })
    check(missing === 0, `${missing} of ${expected.size} messages never processed`)
    check(bAssigned.done, 'consumer B was never assigned a partition')
    check(aSizes.length >= 2 && aSizes[aSizes.length - 1] < aSizes[0], `consumer A's assignment did not shrink: ${JSON.stringify(history.A)}`)

    const { end } = await endOffsets(admin, opts)
    const [groupOffsets] = await admin.fetchOffsets({ groupId: opts.group, topics: [opts.topic] })
    const committed = {}
    for (const p of groupOffsets.partitions) committed[p.partition] = Number(p.offset)
    Object.assign(result, { committed, end_offsets: end })
    const behind = Object.entries(end).filter(([p, e]) => committed[p] !== e)
    check(behind.length === 0, `committed offsets do not reach the end (partition, end): ${JSON.stringify(behind)} committed: ${JSON.stringify(committed)}`)
  })
}

async function brokers (kafka, opts, deadline) {
  const addresses = new Set()
  const sources = {}
  const add = (kind, b) => {
    const addr = `${b.host}:${b.port}`
    addresses.add(addr)
    sources[kind] = sources[kind] || []
    if (!sources[kind].includes(addr)) sources[kind].push(addr)
  }
  await withTopic(kafka, opts, deadline, async admin => {
    const cluster = await admin.describeCluster()
    const byId = new Map(cluster.brokers.map(b => [b.nodeId, b]))
    cluster.brokers.forEach(b => add('cluster_brokers', b))
    if (byId.has(cluster.controller)) add('controller', byId.get(cluster.controller))
    const { topics } = await admin.fetchTopicMetadata({ topics: [opts.topic] })
    for (const p of topics[0].partitions) {
      add('partition_leaders', byId.get(p.leader))
      p.replicas.forEach(r => add('partition_replicas', byId.get(r)))
    }
  })
  check(addresses.size > 0, 'no broker address learned')
  result.addresses = [...addresses].sort()
  result.sources = sources
}

/** The error and its causes, as one line. */
function errorText (e) {
  const parts = []
  for (let c = e, i = 0; c && i < 5; c = c.originalError || c.cause, i++) parts.push(`${c.name}: ${c.message}`)
  return parts.join(' <- ')
}

function recordAuthFailure (text, source, opts) {
  result.error_text = text
  result.auth_error_source = source
  if (opts.expectError) check(new RegExp(opts.expectError).test(text), `error text does not match --expect-error ${opts.expectError}`)
}

async function authFail (kafka, opts, deadline) {
  const outcome = []
  let listed = null
  const refused = () => [...outcome, ...saslEvents.authErrors].find(t => AUTH_ERROR.test(t)) ||
    [...outcome, ...saslEvents.authErrors].find(t => SASL_STATE_ERROR.test(t))
  // The producer first: after a refused token kafkajs's admin retries for ~14 s and ends with
  // "No brokers in the broker pool", while a send fails at once with the broker's error.
  const producer = kafka.producer({ retry: { retries: 2 }, createPartitioner: Partitioners.DefaultPartitioner })
  try {
    await producer.connect()
    await producer.send({ topic: opts.topic, messages: [{ key: 'auth-fail', value: opts.tag }], timeout: 10000 })
  } catch (e) {
    outcome.push(`producer: ${errorText(e)}`)
  } finally {
    await producer.disconnect().catch(() => {})
  }
  if (!refused() && !(tokenProvider && tokenProvider.state.errors.length) && !deadline.expired()) {
    const admin = kafka.admin({ retry: { retries: 2 } })
    try {
      await admin.connect()
      listed = (await admin.listTopics()).length
    } catch (e) {
      outcome.push(`admin: ${errorText(e)}`)
    } finally {
      await admin.disconnect().catch(() => {})
    }
  }
  const tokenErrors = tokenProvider ? tokenProvider.state.errors : []
  Object.assign(result, { topics_listed: listed, exceptions: outcome, logged_auth_errors: saslEvents.authErrors.slice(0, 5), token_errors: tokenErrors.slice(0, 3) })
  const brokerRefusal = refused()
  if (tokenErrors.length) recordAuthFailure(tokenErrors[0], 'token_endpoint', opts)
  else if (brokerRefusal) {
    recordAuthFailure(brokerRefusal, 'broker', opts)
    if (!AUTH_ERROR.test(brokerRefusal)) {
      result.error_code = 'ILLEGAL_SASL_STATE'
      result.quirk = 'kafkajs ignores the OAUTHBEARER error challenge and sends its next request, which the broker refuses with ILLEGAL_SASL_STATE'
    }
  }
  else if (listed !== null) check(false, `authentication succeeded: listTopics returned ${listed} topics`)
  else check(false, `no authentication failure reported: ${JSON.stringify(outcome)}`)
}

async function reauth (kafka, opts, deadline) {
  await withTopic(kafka, opts, deadline, async () => {
    const acked = new Set()
    const consumed = new Map()
    const errors = []
    let sent = 0
    const consumer = kafka.consumer({ groupId: opts.group })
    let crashed = null
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (!payload.restart) crashed = payload.error
      errors.push(`consumer crash: ${errorText(payload.error)}`)
    })
    await consumer.connect()
    await consumer.subscribe({ topic: opts.topic, fromBeginning: true })
    await consumer.run({
      eachMessage: async ({ message }) => {
        const k = message.key.toString()
        consumed.set(k, (consumed.get(k) || 0) + 1)
      }
    })
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner })
    await producer.connect()
    try {
      const begin = Date.now()
      const pending = new Set()
      while (Date.now() - begin < opts.durationS * 1000 && !deadline.expired()) {
        const due = Math.floor((Date.now() - begin) / 1000 * opts.rate)
        const batch = []
        for (; sent < due; sent++) batch.push({ key: `r-${sent}`, value: `v-${sent}-${opts.tag}` })
        if (batch.length) {
          const p = producer.send({ topic: opts.topic, messages: batch, acks: -1, timeout: 30000 })
            .then(() => batch.forEach(m => acked.add(m.key)))
            .catch(e => errors.push(`producer: ${errorText(e)}`))
            .finally(() => pending.delete(p))
          pending.add(p)
        }
        await sleep(50)
      }
      await Promise.all([...pending])
    } finally {
      await producer.disconnect()
    }
    while (!deadline.expired() && !crashed && ![...acked].every(k => consumed.has(k))) await sleep(100)
    await consumer.disconnect()
    const missing = [...acked].filter(k => !consumed.has(k))
    const state = tokenProvider ? tokenProvider.state : null
    Object.assign(result, {
      sent,
      acked: acked.size,
      consumed_distinct: consumed.size,
      consumed_total: [...consumed.values()].reduce((a, c) => a + c, 0),
      missing: missing.length,
      auth_errors: saslEvents.authErrors.length,
      auth_error_samples: saslEvents.authErrors.slice(0, 5),
      sasl_authentications: saslEvents.authentications,
      connects: saslEvents.connects
    })
    const reauths = state ? saslEvents.authentications - saslEvents.connects : null
    if (state) Object.assign(result, { reauthentications: reauths, token_fetches: state.fetches, token_calls: state.calls })
    check(errors.length === 0, `${errors.length} client errors, first: ${errors[0]}`)
    check(acked.size > 0, 'no message was acknowledged')
    check(missing.length === 0, `${missing.length} of ${acked.size} acknowledged messages not consumed, first: ${missing.slice(0, 3)}`)
    check(saslEvents.authErrors.length === 0, `${saslEvents.authErrors.length} authentication errors, first: ${saslEvents.authErrors[0]}`)
    if (opts.minReauth) check(reauths !== null && reauths >= opts.minReauth, `${reauths} re-authentications counted, expected >= ${opts.minReauth}`)
  })
}

// ---- authorization scenarios: report what the client observes ------------------------------------

/** Bound (ms) of one authz-* operation, so that a refused one never hangs the scenario. */
const AUTHZ_OP_MS = 15000

/**
 * (name, text) of a failed operation: kafkajs's error type (the Kafka error name, e.g.
 * TOPIC_AUTHORIZATION_FAILED) of the first error in the chain that has one (under the
 * retrier's KafkaJSNumberOfRetriesExceeded and similar wrappers), else the outermost name.
 */
function errorName (e) {
  for (let c = e, i = 0; c && i < 10; c = c.originalError || c.cause, i++) {
    if (c.type) return { name: c.type, text: errorText(c) }
  }
  return { name: (e && e.name) || String(e), text: errorText(e) }
}

/** Records a failed operation (its name and text in "error_texts") and returns its name. */
function refused (what, { name, text }) {
  log(`${what}: ${text}`)
  result.error_texts = result.error_texts || {}
  result.error_texts[what] = text
  if (coordinatorErrors.size) result.coordinator_errors = [...coordinatorErrors].sort()
  return name
}

/** Rejects with a KafkaJSTimeout-like error if `promise` takes longer than `ms`. */
function bounded (promise, ms, what) {
  let timer
  const timeout = new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`${what}: no answer within ${ms} ms`), { name: 'Timeout' })), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** "ok" if op() resolves within AUTHZ_OP_MS (and the deadline), else the name of its failure. */
async function attempt (what, op, deadline) {
  try {
    await bounded(op(), Math.max(1, deadline.remaining(AUTHZ_OP_MS + 5000)), what)
    return 'ok'
  } catch (e) {
    return refused(what, errorName(e))
  }
}

/** One producer (acks=all) sends one record to each topic. */
async function authzProduce (kafka, opts, deadline) {
  const produce = {}
  const offsets = {}
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner })
  await producer.connect()
  try {
    for (const topic of opts.topics) {
      produce[topic] = await attempt(`produce ${topic}`, async () => {
        const [md] = await producer.send({ topic, messages: [{ key: 'authz', value: `v-${opts.tag}` }], acks: -1, timeout: 10000 })
        offsets[topic] = Number(md.baseOffset)
      }, deadline)
    }
  } finally {
    await producer.disconnect()
  }
  Object.assign(result, { produce, delivered_offsets: offsets })
}

/**
 * A consumer in --group subscribes (from the beginning) and runs for --duration-s or until it
 * crashes, then commits the offsets after the records it got (commitOffsets).
 */
async function authzConsume (kafka, opts, deadline) {
  let consume = 'ok'
  let commit = 'skipped'
  let records = 0
  const byTopic = {}
  const assigned = new Set()
  const next = new Map() // "topic\0partition" -> offset after the last record
  const crashed = deferred()
  const consumer = kafka.consumer({ groupId: opts.group, retry: { retries: 2, initialRetryTime: 300, maxRetryTime: 3000, restartOnFailure: async () => false } })
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    if (consume === 'ok') consume = refused('consume', errorName(payload.error))
    crashed.resolve()
  })
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    for (const [topic, parts] of Object.entries(payload.memberAssignment)) parts.forEach(p => assigned.add(`${topic}-${p}`))
  })
  try {
    await consumer.connect()
    await consumer.subscribe({ topics: opts.topics, fromBeginning: true })
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        if (!batch.messages.length) return
        records += batch.messages.length
        byTopic[batch.topic] = (byTopic[batch.topic] || 0) + batch.messages.length
        next.set(`${batch.topic}\0${batch.partition}`, (BigInt(batch.messages[batch.messages.length - 1].offset) + 1n).toString())
      }
    })
    await Promise.race([crashed.promise, sleep(Math.min(opts.durationS * 1000, deadline.remaining()))])
  } catch (e) {
    if (consume === 'ok') consume = refused('consume', errorName(e))
  }
  try {
    if (consume === 'ok') {
      const offsets = [...next].map(([k, offset]) => {
        const [topic, partition] = k.split('\0')
        return { topic, partition: Number(partition), offset }
      })
      commit = await attempt('commit', () => consumer.commitOffsets(offsets), deadline)
    }
  } finally {
    await bounded(consumer.disconnect(), Math.max(1, deadline.remaining(5000)), 'disconnect').catch(e => log(`disconnect: ${e.message}`))
  }
  Object.assign(result, { consume, records, records_by_topic: byTopic, assigned: [...assigned].sort(), commit })
}

/**
 * One admin client: listTopics, then --create (one createTopics request, whose per-topic
 * errors kafkajs gathers in a KafkaJSAggregateError), --delete (one deleteTopics request per
 * topic: kafkajs reports only the first error of a response, without its topic) and
 * --describe-group (describeGroups), each independent.
 */
async function authzAdmin (kafka, opts, deadline) {
  const admin = kafka.admin()
  await admin.connect()
  try {
    try {
      result.list_topics = (await bounded(admin.listTopics(), deadline.remaining(AUTHZ_OP_MS), 'list_topics')).sort()
    } catch (e) {
      result.list_topics = refused('list_topics', errorName(e))
    }
    if (opts.create.length) {
      const refusedTopics = {}
      try {
        await bounded(admin.createTopics({
          topics: opts.create.map(topic => ({ topic, numPartitions: 1, replicationFactor: opts.replicationFactor })),
          waitForLeaders: false,
          timeout: AUTHZ_OP_MS
        }), deadline.remaining(AUTHZ_OP_MS + 5000), 'create')
      } catch (e) {
        for (const err of e.errors || []) {
          if (err.topic && !refusedTopics[err.topic]) refusedTopics[err.topic] = refused(`create ${err.topic}`, errorName(err))
        }
        if (!e.errors) {
          const name = refused('create', errorName(e))
          opts.create.forEach(t => { refusedTopics[t] = name })
        }
      }
      result.create = Object.fromEntries(opts.create.map(t => [t, refusedTopics[t] || 'ok']))
    }
    if (opts.delete.length) {
      const del = {}
      for (const topic of opts.delete) {
        del[topic] = await attempt(`delete ${topic}`, () => admin.deleteTopics({ topics: [topic], timeout: AUTHZ_OP_MS }), deadline)
      }
      result.delete = del
    }
    if (opts.describeGroup) {
      result.describe_group = await attempt('describe_group', async () => {
        const { groups: [g] } = await admin.describeGroups([opts.describeGroup])
        if (g.errorCode) throw Object.assign(new Error(`describeGroups error code ${g.errorCode}`), { type: `error code ${g.errorCode}` })
        result.describe_group_state = g.state
      }, deadline)
    }
  } finally {
    await admin.disconnect()
  }
}

/**
 * producer.transaction() (InitProducerId on first use, then begin), send one record, commit:
 * "txn" and the step that failed ("init" covers transaction(), "begin" is never reported
 * apart: kafkajs begins locally in the same call).
 */
async function authzTxn (kafka, opts, deadline) {
  result.transactional_id = opts.transactionalId
  const producer = kafka.producer({
    transactionalId: opts.transactionalId, idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner
  })
  let step = 'init'
  try {
    result.txn = await attempt('txn', async () => {
      await producer.connect()
      const tx = await producer.transaction()
      step = 'send'
      const [md] = await tx.send({ topic: opts.topics[0], messages: [{ key: 'authz-txn', value: `v-${opts.tag}` }], acks: -1, timeout: 10000 })
      result.delivered_offset = Number(md.baseOffset)
      step = 'commit'
      await tx.commit()
      step = 'done'
    }, deadline)
  } finally {
    await bounded(producer.disconnect(), Math.max(1, deadline.remaining(5000)), 'disconnect').catch(e => log(`disconnect: ${e.message}`))
  }
  result.step = step
}

const SCENARIOS = {
  basic,
  group,
  acks0,
  idempotent,
  transactions,
  admin,
  brokers,
  'auth-fail': authFail,
  reauth,
  'authz-produce': authzProduce,
  'authz-consume': authzConsume,
  'authz-admin': authzAdmin,
  'authz-txn': authzTxn
}

async function main () {
  let opts
  try {
    opts = parseOptions(process.argv.slice(2))
  } catch (e) {
    process.stderr.write(`${e.message}\n${USAGE}\n`)
    process.exit(2)
  }
  scenarioName = opts.scenario
  Object.assign(result, { client: 'kafkajs', library_version: require('kafkajs/package.json').version, scenario: opts.scenario })
  if (opts.scenario.startsWith('authz-') && opts.scenario !== 'authz-txn') {
    if (opts.topics.length) result.topics = opts.topics
    if (opts.scenario === 'authz-consume') result.group = opts.group
  } else {
    result.topic = opts.topic
  }
  // Hard watchdog: also keeps the process alive if a promise is never settled.
  setTimeout(() => finish(false, `hard timeout: still running after ${opts.timeoutS}s`, 3), opts.timeoutS * 1000)
  process.on('unhandledRejection', e => finish(false, `unhandled rejection: ${e && e.stack ? e.stack : e}`, 1))
  try {
    await SCENARIOS[opts.scenario](new Kafka(clientConfig(opts)), opts, makeDeadline(opts.timeoutS))
  } catch (e) {
    finish(false, `${e.name}: ${e.message}`, 1)
  }
  finish(failures.length === 0)
}

main()
