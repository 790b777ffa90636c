#!/usr/bin/env python3
"""Kafka scenarios with kafka-python 3.x (pure Python client), used as an ordinary application would.

Usage: kafka_python_scenarios.py SCENARIO --bootstrap HOST:PORT[,...] [options]  (see --help)

Scenarios and what they check:
  basic         admin-create a topic (6 partitions, RF 3); produce N keyed messages with
                acks=all (idempotence off); a consumer group reads them from the beginning:
                every key exactly once with its exact value; admin-delete the topic, see it gone.
  group         produce N; consumer A (explicit sync commits) reads part, then pauses until
                consumer B joins the same group; a rebalance must move partitions from A to
                B; together they process all N (duplicates reported, not failed); after both
                close, the group's committed offsets must equal every partition's end offset.
  acks0         one acks=1 record to every partition (so every leader accepts writes), then
                N with acks=0 and flush, then a marker with acks=1; at least 99% of the N
                and the marker must be readable.
  idempotent    like basic with enable_idempotence=True (kafka-python 3.x's default): exactly once.
  transactions  a transactional producer commits one batch and aborts another; a
                read_committed consumer sees exactly the committed batch.
  admin         KafkaAdminClient's topic, config, partition, group and record administration on
                a topic of its own: after N records, list_topics ("listed_topics"), alter_configs
                retention.ms with the legacy AlterConfigs and describe_configs ("retention_ms"),
                create_partitions to --partitions + 1 ("partitions"), alter_group_offsets of
                --group at every partition's end, list_groups ("listed_groups"), describe_groups
                ("group_state"), list_group_offsets ("committed"), and delete_records of
                partition 0 ("low_watermark"); each must hold.
  brokers       print every broker address the client learns (describe_cluster brokers and
                controller, topic metadata partition leaders and replicas).
  auth-fail     connect with the given credentials (admin list_topics, then produce one
                message): passes only if an authentication failure is reported before the
                deadline ("error_text", "auth_error_source": broker | token_endpoint).
  reauth        a producer (acks=all) and a consumer run for --duration-s at --rate msg/s on one
                topic; every acknowledged message must be consumed and no authentication error
                reported; counts re-authentications (KIP-368) and token fetches.
  authz-produce (--topics A,B) one producer (acks=all) sends one record to each topic:
                "produce" {topic: "ok" | error name}, "delivered_offsets" {topic: offset}.
  authz-consume (--topics A,B --group G) a consumer in G subscribes (earliest) and polls for
                --duration-s (10) or until poll raises, then commits synchronously: "consume",
                "records", "commit" ("skipped" after an error).
  authz-admin   one KafkaAdminClient: list_topics ("list_topics": sorted names), then --create
                A,B (1 partition, --replication-factor), --delete A,B and --describe-group G,
                each independent: "create"/"delete" {topic: result}, "describe_group".
  authz-txn     (--topic T --transactional-id X) init, begin, send one record, commit: "txn" and
                "step" (init|begin|send|commit|done).
                The authz-* scenarios report, they do not judge (see common.py): an error is
                reported by its kafka.errors class name (e.g. TopicAuthorizationFailedError),
                its text in "error_texts".
OAUTHBEARER (--security-protocol SASL_PLAINTEXT|SASL_SSL): sasl_oauth_token_provider is
ClientCredentialsTokenProvider below (client-credentials grant with urllib, cached until 80% of
the token's lifetime).
Every topic the program creates is deleted at the end (unless --keep-topic).
"""
import base64
import contextlib
import json
import logging
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import kafka
from kafka import (ConsumerRebalanceListener, DefaultSerializer, KafkaAdminClient, KafkaConsumer,
                   KafkaProducer, OffsetSpec, TopicPartition)
from kafka.admin import ConfigResource, ConfigResourceType
from kafka.errors import KafkaError, SaslAuthenticationFailedError
from kafka.structs import OffsetAndMetadata
from kafka.net.sasl.oauth import AbstractTokenProvider

import common
from common import StopRule, log, messages, ready_records, verify_exactly_once


class ClientCredentialsTokenProvider(AbstractTokenProvider):
    """kafka-python's OAUTHBEARER token provider, as an application writes it: an access token
    from the OAuth token endpoint by the client-credentials grant (client_secret_basic), cached
    and shared by every connection until 80% of its lifetime has passed (then fetched anew on
    the next call). kafka-python calls token() for every SASL authentication, including the
    KIP-368 re-authentications."""

    def __init__(self, url, client_id, client_secret, scope=None, ca_file=None):
        super().__init__()
        self.url, self.scope = url, scope
        quote = lambda s: urllib.parse.quote(s, safe="")  # noqa: E731 - RFC 6749 2.3.1
        pair = f"{quote(client_id)}:{quote(client_secret)}".encode()
        self.authorization = "Basic " + base64.b64encode(pair).decode()
        self.context = ssl.create_default_context(cafile=ca_file) if url.startswith("https:") else None
        self.lock = threading.Lock()
        self.value, self.refresh_at = None, 0.0
        self.calls = self.fetches = 0
        self.errors = []

    def token(self):
        with self.lock:
            self.calls += 1
            if self.value is None or time.monotonic() >= self.refresh_at:
                self._fetch()
            return self.value

    def _fetch(self):
        form = {"grant_type": "client_credentials"}
        if self.scope:
            form["scope"] = self.scope
        req = urllib.request.Request(self.url, data=urllib.parse.urlencode(form).encode(), headers={
            "Authorization": self.authorization, "Accept": "application/json",
            "Content-Type": "application/x-www-form-urlencoded"})
        began = time.monotonic()
        try:
            with urllib.request.urlopen(req, timeout=10, context=self.context) as resp:
                doc = json.load(resp)
        except urllib.error.HTTPError as e:
            text = f"token endpoint answered HTTP {e.code}: {e.read().decode(errors='replace')[:300]}"
            self.errors.append(text)
            raise RuntimeError(text) from None
        except (urllib.error.URLError, OSError, ValueError) as e:
            self.errors.append(f"token request failed: {e}")
            raise
        if not doc.get("access_token"):
            self.errors.append(f"no access_token in the token response: {doc}")
            raise RuntimeError(self.errors[-1])
        self.fetches += 1
        self.value = doc["access_token"]
        self.refresh_at = began + 0.8 * float(doc.get("expires_in", 300))


TOKEN_PROVIDER = None  # one per program, shared by all its clients (as an application would)


def token_provider(args):
    global TOKEN_PROVIDER
    if TOKEN_PROVIDER is None:
        TOKEN_PROVIDER = ClientCredentialsTokenProvider(
            args.oauth_token_url, args.oauth_client_id, args.oauth_client_secret,
            args.oauth_scope, args.ca_file)
    return TOKEN_PROVIDER


class SaslEvents(logging.Handler):
    """kafka-python reports SASL failures and re-authentications only through its logging
    (bootstrap retries swallow the exception): count and keep them."""

    def __init__(self):
        super().__init__(logging.DEBUG)  # handle() holds the handler's own lock around emit()
        self.reauth_begun = 0
        self.auth_errors = []  # texts
        # Set once the scenario starts closing its clients: a re-authentication that the
        # client's own close interrupts fails with KafkaConnectionError or Cancelled, which is
        # not a refusal.
        self.closing = False
        self.interrupted_by_close = []

    def emit(self, record):
        msg = record.getMessage()
        args = record.args if isinstance(record.args, tuple) else ()
        exc = next((a for a in args if isinstance(a, SaslAuthenticationFailedError)), None)
        if "Beginning SASL re-authentication" in msg:
            self.reauth_begun += 1
        elif self.closing and ("KafkaConnectionError" in msg or "Cancelled" in msg):
            self.interrupted_by_close.append(msg)
        elif exc is not None:
            self.auth_errors.append(str(exc))
        elif record.levelno >= logging.WARNING and (
                "re-authentication failed" in msg or common.BROKER_AUTH_ERROR.search(msg)):
            self.auth_errors.append(msg)


SASL_EVENTS = SaslEvents()


def watch_sasl_events():
    for name, level in (("kafka.net.connection", logging.DEBUG), ("kafka.net.manager", logging.INFO)):
        logger = logging.getLogger(name)
        logger.addHandler(SASL_EVENTS)
        logger.setLevel(min(logger.getEffectiveLevel(), level))


def client_config(args, **extra):
    """Configuration shared by every client the program creates: the single place for
    connection and security options."""
    if args.group_protocol != "classic":
        raise ValueError("kafka-python only speaks the classic consumer group protocol")
    conf = {
        "bootstrap_servers": args.bootstrap.split(","),
        "security_protocol": args.security_protocol,
        "client_id": f"kop-kafka-python-{args.scenario}",
        "bootstrap_timeout_ms": ms(min(30, args.timeout / 3)),  # fail with a clear error, in time
    }
    if args.ca_file:
        conf["ssl_cafile"] = args.ca_file
    if args.sasl_mechanism == "OAUTHBEARER":
        conf["sasl_mechanism"] = "OAUTHBEARER"
        conf["sasl_oauth_token_provider"] = token_provider(args)
    conf.update(extra)
    return conf


def producer(args, **conf):
    utf8 = DefaultSerializer()  # str <-> UTF-8 bytes
    return KafkaProducer(**client_config(args, key_serializer=utf8, value_serializer=utf8, **conf))


class RejoinLivelock(logging.Handler):
    """Recognises kafka-python 3.0.12's coordinator livelock (see subscribe()): the consumer
    logs `need_rejoin: False` in a tight loop, tens of thousands of times a second, and never
    assigns its partitions."""

    SIGNATURE = 10_000

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.count = 0

    def emit(self, record):
        # The record's template is "need_rejoin: %s (...)": its arguments tell True from False.
        if str(record.msg).startswith("need_rejoin: ") and record.getMessage().startswith(
                "need_rejoin: False"):
            self.count += 1

    def hint(self):
        if self.count < self.SIGNATURE:
            return {}
        return {"client_fault": f"kafka-python coordinator livelock: need_rejoin checked "
                                f"{self.count} times without an assignment"}


REJOIN_LIVELOCK = RejoinLivelock()
logging.getLogger("kafka.coordinator.consumer").addHandler(REJOIN_LIVELOCK)
common.FAILURE_HINTS.append(REJOIN_LIVELOCK.hint)


def subscribe(c, args, **kw):
    """Subscribe `c` to --topic once its metadata knows the topic. kafka-python 3.0.12 can
    livelock after a join that is followed at once by a rejoin: without the topic's metadata
    the first join assigns nothing, the metadata that arrives next forces a rejoin, and after
    that SyncGroup the coordinator may loop on `need_rejoin: False` without ever assigning the
    partitions (seen through the proxy and not the proxy's doing: every response arrived).
    Looking the topic up first makes the first join the only one."""
    c.partitions_for_topic(args.topic)
    c.subscribe([args.topic], **kw)


def consumer(args, **conf):
    """A consumer in group --group reading from the earliest offset, committing only explicitly."""
    utf8 = DefaultSerializer()
    return KafkaConsumer(**client_config(args, **{
        "group_id": args.group, "auto_offset_reset": "earliest", "enable_auto_commit": False,
        "key_deserializer": utf8, "value_deserializer": utf8, **conf}))


# --- admin helpers -------------------------------------------------------------------

def ms(seconds):
    return max(1, int(seconds * 1000))


def delete_topic(admin, args, deadline, result):
    """Delete --topic and wait until it is no longer listed. A metadata request that a client
    of the scenario sent just before it closed names the topic with auto-creation allowed
    (kafka-python's default); reaching a broker after the delete, it creates the topic again
    (seen: deleted, created anew 100 ms later). So a topic still listed 2 s after a delete is
    deleted once more, its absence then being what counts."""
    first = True
    while True:
        admin.delete_topics([args.topic], timeout_ms=ms(deadline.remaining(30)),
                            raise_errors=first)
        first = False
        again = time.monotonic() + 2
        while args.topic in admin.list_topics():
            if deadline.expired():
                result.check(False, f"topic {args.topic} still listed after delete")
                return
            if time.monotonic() > again:
                break
            time.sleep(0.2)
        else:
            result["topic_deleted"] = True
            return


def delete_group(admin, args, deadline, result):
    """Delete consumer group --group (left behind by the scenario's consumers), if it exists."""
    while True:
        outcome = admin.delete_groups([args.group])[args.group]
        if outcome == "OK":
            result["group_deleted"] = True
            return
        if outcome == "GroupIdNotFoundError":
            return
        if outcome != "NonEmptyGroupError" or deadline.expired():
            raise RuntimeError(f"deleting group {args.group}: {outcome}")
        time.sleep(0.5)  # a member's LeaveGroup is still being processed


def offsets(admin, args, deadline, spec):
    """{partition: offset} for OffsetSpec.LATEST/EARLIEST of every partition."""
    req = {TopicPartition(args.topic, p): spec for p in range(args.partitions)}
    res = admin.list_partition_offsets(req, timeout_ms=ms(deadline.remaining(30)))
    return {tp.partition: o.offset for tp, o in res.items()}


def records_in_topic(admin, args, deadline):
    latest = offsets(admin, args, deadline, OffsetSpec.LATEST)
    earliest = offsets(admin, args, deadline, OffsetSpec.EARLIEST)
    return sum(latest[p] - earliest[p] for p in latest)


def with_topic(body):
    """Create the topic, run body(args, result, deadline, admin, **kw), delete the topic and
    the consumer group."""
    def scenario(args, result, deadline, **kw):
        admin = KafkaAdminClient(**client_config(args))
        try:
            admin.create_topics({args.topic: {"num_partitions": args.partitions,
                                              "replication_factor": args.replication_factor}},
                                timeout_ms=ms(deadline.remaining(30)), wait_for_metadata=True)
            body(args, result, deadline, admin, **kw)
        except BaseException:
            admin.close()
            if not args.keep_topic:
                try:
                    with fresh_admin(args) as cleaner:
                        delete_topic(cleaner, args, deadline, result)
                except Exception as e:  # noqa: BLE001 - the first error is the one to report
                    log(f"cleanup: could not delete {args.topic}: {e}")
            raise
        # The body's admin client has looked the topic up, so its metadata refreshes name it
        # with auto-creation allowed (kafka-python's default): one arriving just after the
        # delete makes the broker create the topic again. Clean up with a client that never
        # asked about it.
        admin.close()
        if not args.keep_topic:
            with fresh_admin(args) as cleaner:
                delete_topic(cleaner, args, deadline, result)
                delete_group(cleaner, args, deadline, result)
    return scenario


@contextlib.contextmanager
def fresh_admin(args):
    admin = KafkaAdminClient(**client_config(args))
    try:
        yield admin
    finally:
        admin.close()


# --- produce / consume helpers -------------------------------------------------------

def produce(args, pairs, deadline, result, **conf):
    """Send every (key, value[, partition]), wait for all acknowledgements; returns the acked
    count."""
    p = producer(args, **conf)
    try:
        futures = [p.send(args.topic, key=k, value=v, partition=(where or [None])[0])
                   for k, v, *where in pairs]
        p.flush(timeout=deadline.remaining())
    finally:
        p.close(timeout=deadline.remaining(10))
    errors = [str(f.exception) for f in futures if f.failed()]
    pending = sum(1 for f in futures if not f.is_done)
    result.check(pending == 0, f"{pending} messages still undelivered at the deadline")
    result.check(not errors, f"{len(errors)} delivery errors, first: {errors[:1]}")
    return sum(1 for f in futures if f.succeeded())


def consume(args, deadline, total, settle_s=0.0, idle_s=None, **conf):
    """Subscribe with a fresh group from the beginning and read until common.StopRule(total,
    settle_s, idle_s) says enough. Returns [(key, value)] in arrival order."""
    c = consumer(args, **conf)
    subscribe(c, args)
    got, stop = [], StopRule(total, settle_s, idle_s)
    try:
        while not stop.done() and not deadline.expired():
            batch = [(r.key, r.value) for records in c.poll(timeout_ms=ms(deadline.remaining(0.5))).values()
                     for r in records]
            got.extend(batch)
            stop.add(len(batch))
    finally:
        c.close(autocommit=False)
    return got


# --- scenarios -----------------------------------------------------------------------

@with_topic
def basic(args, result, deadline, admin, idempotent=False):
    expected = dict(messages(args.messages, args.tag))
    result["produced"] = produce(args, expected.items(), deadline, result,
                                 acks="all", enable_idempotence=idempotent)
    total = records_in_topic(admin, args, deadline)
    result["records_in_topic"] = total
    verify_exactly_once(result, expected, consume(args, deadline, total))


def idempotent(args, result, deadline):
    basic(args, result, deadline, idempotent=True)


@with_topic
def admin(args, result, deadline, admin):
    result["produced"] = produce(args, messages(args.messages, args.tag), deadline, result)
    result["listed_topics"] = sorted(admin.list_topics())
    result.check(args.topic in result["listed_topics"], f"{args.topic} is not listed")

    admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, args.topic,
                                        configs={"retention.ms": "3600000"})], incremental=False)
    # Brokers learn a change of configuration from the controller: a describe right after the
    # alter may come before it.
    while True:
        configs = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, args.topic)])
        result["retention_ms"] = configs["topic"][args.topic].get("retention.ms", {}).get("value")
        if result["retention_ms"] == "3600000" or deadline.expired():
            break
        time.sleep(0.2)
    result.check(result["retention_ms"] == "3600000", f"retention.ms reads {result['retention_ms']}")

    admin.create_partitions({args.topic: args.partitions + 1},
                            timeout_ms=ms(deadline.remaining(30)))
    while True:
        result["partitions"] = len(admin.describe_topics([args.topic])[0]["partitions"])
        if result["partitions"] == args.partitions + 1 or deadline.expired():
            break
        time.sleep(0.2)
    result.check(result["partitions"] == args.partitions + 1,
                 f"{result['partitions']} partitions after create_partitions")

    args.partitions += 1
    end = offsets(admin, args, deadline, OffsetSpec.LATEST)
    records = records_in_topic(admin, args, deadline)
    errors = admin.alter_group_offsets(args.group, {
        TopicPartition(args.topic, p): OffsetAndMetadata(o, "", -1) for p, o in end.items()})
    result.check(all(e is kafka.errors.NoError for e in errors.values()), f"alter_group_offsets: {errors}")
    # On a young cluster the group's coordinator may still be loading its partition: the
    # listing and the describe are asked again until they answer for the group.
    while True:
        result["listed_groups"] = sorted(g["group_id"] for g in admin.list_groups())
        if args.group in result["listed_groups"] or deadline.expired():
            break
        time.sleep(0.2)
    result.check(args.group in result["listed_groups"], f"{args.group} is not listed")
    while True:
        try:
            result["group_state"] = admin.describe_groups([args.group])[args.group].get("group_state")
            break
        except KafkaError as e:
            if not e.retriable or deadline.expired():
                raise
            time.sleep(0.2)
    committed = admin.list_group_offsets({args.group: None})[args.group]
    result["committed"] = sum(max(0, o.offset) for o in committed.values())
    result.check(result["committed"] == records, f"{result['committed']} of {records} records committed")

    deleted = admin.delete_records({TopicPartition(args.topic, 0): end[0]},
                                   timeout_ms=ms(deadline.remaining(30)))
    result["low_watermark"] = next(iter(deleted.values()))["low_watermark"]
    result.check(result["low_watermark"] == end[0],
                 f"partition 0 starts at {result['low_watermark']}, not {end[0]}")


@with_topic
def acks0(args, result, deadline, admin):
    pairs = messages(args.messages, args.tag)
    ready = produce(args, ready_records(args), deadline, result, acks=1, enable_idempotence=False)
    result["produced"] = produce(args, pairs, deadline, result, acks=0, enable_idempotence=False)
    marker = ("marker", f"marker-{args.tag}")
    produce(args, [marker], deadline, result, acks=1, enable_idempotence=False)
    # With acks=0/1 the high watermark may still lag (followers catching up), so read until
    # everything or until 5 s pass without a new message.
    got = consume(args, deadline, ready + args.messages + 1, idle_s=5.0)
    keys = {k for k, _ in got}
    arrived = sum(1 for k, _ in pairs if k in keys)
    result.update(consumed=len(got), arrived=arrived, marker_seen=marker in got,
                  records_in_topic=records_in_topic(admin, args, deadline))
    result.check(marker in got, "acks=1 marker not consumed")
    result.check(arrived >= 0.99 * args.messages,
                 f"only {arrived} of {args.messages} acks=0 messages arrived (< 99%)")


@with_topic
def transactions(args, result, deadline, admin):
    committed = dict(messages(args.messages, args.tag, prefix="k"))
    aborted = messages(args.messages, args.tag, prefix="x")
    p = producer(args, transactional_id=f"kop-tx-{args.tag}")
    try:
        p.init_transactions()
        p.begin_transaction()
        for k, v in committed.items():
            p.send(args.topic, key=k, value=v)
        p.commit_transaction()  # flushes; fails if any send failed
        p.begin_transaction()
        for k, v in aborted:
            p.send(args.topic, key=k, value=v)
        p.flush(timeout=deadline.remaining())  # so the aborted batch really is in the log
        p.abort_transaction()
    finally:
        p.close(timeout=deadline.remaining(10))
    result["produced_committed"] = len(committed)
    result["produced_aborted"] = len(aborted)
    got = consume(args, deadline, len(committed), settle_s=3.0, isolation_level="read_committed")
    verify_exactly_once(result, committed, got)


@with_topic
def group(args, result, deadline, admin):
    expected = dict(messages(args.messages, args.tag))
    result["produced"] = produce(args, expected.items(), deadline, result,
                                 acks="all", enable_idempotence=False)
    lock = threading.Lock()
    processed = {}                     # key -> times processed (by A or B)
    counts = {"A": 0, "B": 0}
    history = {"A": [], "B": []}       # assignments seen by each member, in order
    commit_failures, errors = [], []
    start_b, b_assigned, done, failed = (threading.Event() for _ in range(4))

    def finished():  # all processed and B took part (even if A alone could have read it all)
        return (done.is_set() and b_assigned.is_set()) or failed.is_set() or deadline.expired()

    class Track(ConsumerRebalanceListener):
        def __init__(self, name):
            self.name = name

        def on_partitions_revoked(self, revoked):
            pass

        def on_partitions_assigned(self, assigned):
            history[self.name].append(sorted(tp.partition for tp in assigned))
            if self.name == "B" and assigned:
                b_assigned.set()

    def member(name):
        c = consumer(args, client_id=f"kop-kafka-python-group-{name}")
        subscribe(c, args, listener=Track(name))
        try:
            while not finished():
                parts = c.assignment()
                if name == "A" and parts:  # A leaves work for B: paused from 1/3 until B is assigned
                    if start_b.is_set() and not b_assigned.is_set():
                        c.pause(*parts)
                    else:
                        c.resume(*parts)
                batch = [r for records in c.poll(timeout_ms=500).values() for r in records]
                if not batch:
                    continue
                with lock:
                    for r in batch:
                        processed[r.key] = processed.get(r.key, 0) + 1
                        counts[name] += 1
                    if counts["A"] >= args.messages // 3:
                        start_b.set()
                    if len(processed) >= len(expected):
                        done.set()
                try:
                    c.commit()
                except KafkaError as e:  # e.g. CommitFailedError during a rebalance: at-least-once
                    commit_failures.append(f"{name}: {e}")
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(f"{name}: {type(e).__name__}: {e}")
            failed.set()
        finally:
            c.close(autocommit=False)

    threads = {n: threading.Thread(target=member, args=(n,), daemon=True) for n in "AB"}
    threads["A"].start()
    start_b.wait(deadline.remaining())
    threads["B"].start()
    for t in threads.values():
        t.join(deadline.remaining() + 5)
    if errors:
        raise RuntimeError("; ".join(errors))

    missing = sum(1 for k in expected if k not in processed)
    a_sizes = [len(a) for a in history["A"] if a]
    result.update(consumed_a=counts["A"], consumed_b=counts["B"], missing=missing,
                  duplicates=sum(c - 1 for c in processed.values()),
                  assignments_a=history["A"], assignments_b=history["B"],
                  commit_failures=len(commit_failures))
    result.check(missing == 0, f"{missing} of {len(expected)} messages never processed")
    result.check(b_assigned.is_set(), "consumer B was never assigned a partition")
    result.check(len(a_sizes) >= 2 and a_sizes[-1] < a_sizes[0],
                 f"consumer A's assignment did not shrink: {history['A']}")

    end = offsets(admin, args, deadline, OffsetSpec.LATEST)
    group_offsets = admin.list_group_offsets({args.group: None})[args.group]
    committed = {tp.partition: om.offset for tp, om in group_offsets.items() if tp.topic == args.topic}
    result["committed"] = committed
    result["end_offsets"] = end
    behind = {p: (committed.get(p), e) for p, e in end.items() if committed.get(p) != e}
    result.check(not behind, f"committed offsets do not reach the end (partition: (committed, end)): {behind}")


@with_topic
def brokers(args, result, deadline, admin):
    addresses, detail = set(), {}
    by_id = {}

    def add(kind, host, port):
        addr = f"{host}:{port}"
        addresses.add(addr)
        detail.setdefault(kind, [])
        if addr not in detail[kind]:
            detail[kind].append(addr)

    cluster = admin.describe_cluster()
    for b in cluster["brokers"]:
        by_id[b["broker_id"]] = b
        add("cluster_brokers", b["host"], b["port"])
    controller = by_id.get(cluster.get("controller_id"))
    if controller:
        add("controller", controller["host"], controller["port"])
    for t in admin.describe_topics([args.topic]):
        for p in t["partitions"]:
            leader = by_id[p["leader_id"]]
            add("partition_leaders", leader["host"], leader["port"])
            for r in p["replica_nodes"]:
                add("partition_replicas", by_id[r]["host"], by_id[r]["port"])
    result.check(addresses, "no broker address learned")
    result["addresses"] = sorted(addresses)
    result["sources"] = detail


def auth_fail(args, result, deadline):
    """Connect with the given credentials (an admin client lists topics, a producer sends one
    message): passes only if kafka-python reports an authentication failure before the
    deadline. Bootstrap swallows the SaslAuthenticationFailedError into a retry (only logged)
    and ends with KafkaTimeoutError, so the logged failure is what counts."""
    watch_sasl_events()
    listed, outcome = None, []
    short = {"bootstrap_timeout_ms": ms(deadline.remaining(10))}
    try:
        admin = KafkaAdminClient(**client_config(args, **short))
        try:
            listed = len(admin.list_topics())
        finally:
            admin.close()
    except Exception as e:  # noqa: BLE001 - the expected outcome
        outcome.append(f"admin: {type(e).__name__}: {e}")
    if listed is None and not SASL_EVENTS.auth_errors:
        try:
            p = producer(args, max_block_ms=ms(deadline.remaining(15)), **short)
            try:
                p.send(args.topic, key="auth-fail", value=args.tag).get(timeout=deadline.remaining(15))
            finally:
                p.close(timeout=1)
        except Exception as e:  # noqa: BLE001 - the expected outcome
            outcome.append(f"producer: {type(e).__name__}: {e}")
    provider_errors = TOKEN_PROVIDER.errors if TOKEN_PROVIDER else []
    result.update(topics_listed=listed, exceptions=outcome, logged_auth_errors=SASL_EVENTS.auth_errors[:5],
                  token_errors=provider_errors[:3])
    if provider_errors:  # no token, so the broker never saw one
        common.record_auth_failure(result, args, provider_errors[0], "token_endpoint")
    elif SASL_EVENTS.auth_errors:
        common.record_auth_failure(result, args, SASL_EVENTS.auth_errors[0], "broker")
    elif listed is not None:
        result.check(False, f"authentication succeeded: list_topics returned {listed} topics")
    else:
        result.check(False, f"no authentication failure reported: {outcome}")


@with_topic
def reauth(args, result, deadline, admin):
    """A producer (acks=all) and a consumer (group --group) run for --duration-s at --rate
    msg/s; with short-lived tokens every connection must re-authenticate (KIP-368) on the
    way. Every acknowledged message must be consumed, and no authentication failure logged.
    "reauthentications" counts kafka-python's "Beginning SASL re-authentication" events;
    "token_fetches"/"token_calls" come from the token provider (calls = authentications)."""
    watch_sasl_events()
    acked, errors, consumed = set(), [], {}
    producer_done = threading.Event()

    def produce_loop():
        p = producer(args, acks="all")
        begin, sent = time.monotonic(), 0
        try:
            while time.monotonic() - begin < args.duration_s and not deadline.expired():
                due = int((time.monotonic() - begin) * args.rate)
                while sent < due:
                    key = f"r-{sent}"
                    fut = p.send(args.topic, key=key, value=f"v-{sent}-{args.tag}")
                    fut.add_callback(lambda _md, k=key: acked.add(k))
                    fut.add_errback(lambda e, k=key: errors.append(f"{k}: {e}"))
                    sent += 1
                time.sleep(0.02)
            p.flush(timeout=deadline.remaining())
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(f"producer: {type(e).__name__}: {e}")
        finally:
            SASL_EVENTS.closing = True
            p.close(timeout=deadline.remaining(10))
            result["sent"] = sent
            producer_done.set()

    t = threading.Thread(target=produce_loop, daemon=True)
    c = consumer(args)
    subscribe(c, args)
    t.start()
    try:
        while not deadline.expired():
            for records in c.poll(timeout_ms=200).values():
                for r in records:
                    consumed[r.key] = consumed.get(r.key, 0) + 1
            if producer_done.is_set() and all(k in consumed for k in acked):
                break
    finally:
        c.close(autocommit=False)
    t.join(deadline.remaining() + 5)
    result.check(not errors, f"{len(errors)} producer errors, first: {errors[:1]}")
    if TOKEN_PROVIDER:
        result.update(token_fetches=TOKEN_PROVIDER.fetches, token_calls=TOKEN_PROVIDER.calls)
    result["reauth_interrupted_by_close"] = SASL_EVENTS.interrupted_by_close[:3]
    common.verify_reauth(result, args, set(acked), consumed, list(SASL_EVENTS.auth_errors),
                         reauths=SASL_EVENTS.reauth_begun if args.sasl_mechanism else None)


# --- authorization scenarios: report what the client observes ----------------------------

def error_name(e):
    """(name, text) of a failed operation: the class name of the first kafka.errors exception in
    the cause chain (e.g. TopicAuthorizationFailedError), else of the exception itself."""
    c = e
    while c is not None:
        if isinstance(c, KafkaError):
            return type(c).__name__, str(c)
        c = c.__cause__ or c.__context__
    return type(e).__name__, str(e)


def code_name(code):
    """kafka-python's exception class name for a Kafka error code in a response."""
    return kafka.errors.for_code(code).__name__


# Each request bounded to 10 s, each blocking call and each delivery to common.AUTHZ_OP_S.
BOUNDED = {"request_timeout_ms": 10000}
BOUNDED_PRODUCER = {**BOUNDED, "acks": "all", "max_block_ms": ms(common.AUTHZ_OP_S),
                    "delivery_timeout_ms": ms(common.AUTHZ_OP_S)}


def authz_produce(args, result, deadline):
    """One producer (acks=all, kafka-python's default idempotence) sends one record to each topic."""
    produce_result, offsets = {}, {}
    p = producer(args, **BOUNDED_PRODUCER)

    def send(topic):
        md = p.send(topic, key="authz", value=f"v-{args.tag}").get(timeout=deadline.remaining(common.AUTHZ_OP_S + 5))
        offsets[topic] = md.offset

    try:
        for topic in args.topics:
            produce_result[topic] = common.attempt(result, f"produce {topic}", lambda: send(topic), error_name)
    finally:
        p.close(timeout=deadline.remaining(5))
    result.update(produce=produce_result, delivered_offsets=offsets)


def authz_consume(args, result, deadline):
    """A consumer in --group subscribes (earliest) and polls for --duration-s or until poll raises,
    then commits synchronously. The topics are looked up first (see subscribe())."""
    consume_result, commit, records = "ok", "skipped", 0
    by_topic, assigned = {}, set()
    c = consumer(args, **BOUNDED)
    try:
        end = time.monotonic() + args.duration_s
        try:
            for topic in args.topics:
                c.partitions_for_topic(topic)
            c.subscribe(args.topics)
            while time.monotonic() < end and not deadline.expired():
                left = deadline.remaining(min(0.5, max(0.001, end - time.monotonic())))
                for tp, batch in c.poll(timeout_ms=ms(left)).items():
                    records += len(batch)
                    by_topic[tp.topic] = by_topic.get(tp.topic, 0) + len(batch)
                assigned.update(f"{tp.topic}-{tp.partition}" for tp in c.assignment())
        except Exception as e:  # noqa: BLE001 - what the client saw is the result
            consume_result = common.refused(result, "consume", *error_name(e))
        if consume_result == "ok":
            commit = common.attempt(result, "commit", lambda: c.commit(timeout_ms=ms(common.AUTHZ_OP_S)),
                                    error_name)
    finally:
        c.close(autocommit=False, timeout_ms=ms(deadline.remaining(5)))
    result.update(consume=consume_result, records=records, records_by_topic=by_topic,
                  assigned=sorted(assigned), commit=commit)


def authz_admin(args, result, deadline):
    """One KafkaAdminClient: list_topics, then --create (one CreateTopics request) and --delete (one
    DeleteTopics request), whose per-topic error codes are reported by kafka-python's names for
    them, and --describe-group (describe_groups)."""
    admin = KafkaAdminClient(**client_config(args, **BOUNDED))
    timeout_ms = ms(common.AUTHZ_OP_S)
    try:
        try:
            result["list_topics"] = sorted(admin.list_topics())
        except Exception as e:  # noqa: BLE001 - what the client saw is the result
            result["list_topics"] = common.refused(result, "list_topics", *error_name(e))
        for what, names, call in (
                ("create", args.create, lambda: admin.create_topics(
                    {n: {"num_partitions": 1, "replication_factor": args.replication_factor} for n in args.create},
                    timeout_ms=timeout_ms, raise_errors=False)),
                ("delete", args.delete, lambda: admin.delete_topics(
                    args.delete, timeout_ms=timeout_ms, raise_errors=False))):
            if not names:
                continue
            try:
                codes = {t["name"]: (t["error_code"], t.get("error_message")) for t in call()["topics"]}
                outcome = {}
                for n in names:
                    code, message = codes.get(n, (None, "not in the response"))
                    outcome[n] = "ok" if code == 0 else common.refused(
                        result, f"{what} {n}", code_name(code) if code is not None else "missing", str(message))
                result[what] = outcome
            except Exception as e:  # noqa: BLE001 - the request itself could not be made
                name = common.refused(result, what, *error_name(e))
                result[what] = {n: name for n in names}
        if args.describe_group:
            g = args.describe_group

            def describe():
                result["describe_group_state"] = admin.describe_groups([g])[g].get("group_state")

            result["describe_group"] = common.attempt(result, "describe_group", describe, error_name)
    finally:
        admin.close()


def authz_txn(args, result, deadline):
    """init_transactions, begin_transaction, send one record, commit_transaction: "txn" and the
    step that failed (or "done"); each blocks at most max_block_ms."""
    result["transactional_id"] = args.transactional_id
    p = producer(args, transactional_id=args.transactional_id, **BOUNDED_PRODUCER)
    step = "init"

    def run():
        nonlocal step
        p.init_transactions()
        step = "begin"
        p.begin_transaction()
        step = "send"
        md = p.send(args.topic, key="authz-txn", value=f"v-{args.tag}").get(
            timeout=deadline.remaining(common.AUTHZ_OP_S + 5))
        result["delivered_offset"] = md.offset
        step = "commit"
        p.commit_transaction()
        step = "done"

    try:
        result["txn"] = common.attempt(result, "txn", run, error_name)
    finally:
        p.close(timeout=deadline.remaining(5))
    result["step"] = step


SCENARIOS = {"basic": basic, "group": group, "acks0": acks0, "idempotent": idempotent,
             "transactions": transactions, "admin": admin, "brokers": brokers, "auth-fail": auth_fail,
             "reauth": reauth, "authz-produce": authz_produce, "authz-consume": authz_consume,
             "authz-admin": authz_admin, "authz-txn": authz_txn}

if __name__ == "__main__":
    common.main("kafka-python", kafka.__version__, SCENARIOS)
