#!/usr/bin/env python3
"""Kafka scenarios with confluent-kafka (librdkafka), used as an ordinary application would.

Usage: confluent_scenarios.py SCENARIO --bootstrap HOST:PORT[,...] [options]  (see --help)

Scenarios and what they check:
  basic         admin-create a topic (6 partitions, RF 3); produce N keyed messages with
                acks=all; a consumer group reads them from the beginning: every key exactly
                once with its exact value; admin-delete the topic and see it gone.
  group         produce N; consumer A (explicit sync commits) reads part, then pauses until
                consumer B joins the same group; a rebalance must move partitions from A to
                B; together they process all N (duplicates reported, not failed); after both
                close, the group's committed offsets must equal every partition's end offset.
  acks0         one acks=1 record to every partition (so every leader accepts writes), then
                N with acks=0 and flush, then a marker with acks=1; at least 99% of the N
                and the marker must be readable (the proxy must not wait for an acks=0 reply
                that never comes).
  idempotent    like basic with enable.idempotence=true: exactly once.
  transactions  a transactional producer commits one batch and aborts another; a
                read_committed consumer sees exactly the committed batch.
  admin         the AdminClient's topic, config, partition, group and record administration on
                a topic of its own: after N records, list_topics ("listed_topics"),
                incremental_alter_configs retention.ms and describe_configs ("retention_ms"),
                create_partitions to --partitions + 1 ("partitions"),
                alter_consumer_group_offsets of --group at every partition's end,
                list_consumer_groups ("listed_groups"), describe_consumer_groups
                ("group_state"), list_consumer_group_offsets ("committed"), and delete_records
                of partition 0 ("low_watermark"); each must hold.
  brokers       print every broker address the client learns (describe_cluster nodes and
                controller, topic metadata brokers/leaders, the group coordinator).
  auth-fail     connect with the given credentials (admin list_topics, produce one message):
                passes only if librdkafka reports an authentication error (error_cb code
                _AUTHENTICATION) before the deadline; "error_text" holds it, "auth_error_source"
                says whether the broker refused the token or no token could be fetched.
  reauth        a producer (acks=all) and a consumer run for --duration-s at --rate msg/s on one
                topic; every acknowledged message must be consumed and no authentication error
                reported; "reauthentications" = SaslAuthenticate requests - connections
                (librdkafka statistics). With short-lived tokens (KIP-368) it must be > 0
                (--min-reauth N).
  produce-stats one producer (acks=all, no other client) sends --messages records to --topic
                (created by the broker on first use) and reports librdkafka's own totals over
                every connection: "librdkafka" {tx, txbytes, rx, rxbytes, connects}.
  authz-produce (--topics A,B) one producer (acks=all) sends one record to each topic:
                "produce" {topic: "ok" | error name}, "delivered_offsets" {topic: offset}.
  authz-consume (--topics A,B --group G) a consumer in G subscribes (earliest) and polls for
                --duration-s (10) or until an error event librdkafka does not retry, then
                commits synchronously: "consume", "records", "commit" ("skipped" after an error).
  authz-admin   one AdminClient: list_topics ("list_topics": sorted names), then --create A,B
                (1 partition, --replication-factor), --delete A,B and --describe-group G, each
                independent: "create"/"delete" {topic: result}, "describe_group".
  authz-txn     (--topic T --transactional-id X) init, begin, produce one record, commit: "txn"
                and "step" (init|begin|send|commit|done).
                The authz-* scenarios report, they do not judge (see common.py): an error is
                reported by librdkafka's name for it (KafkaError.name(), e.g.
                TOPIC_AUTHORIZATION_FAILED), its text in "error_texts".
OAUTHBEARER (--security-protocol SASL_PLAINTEXT|SASL_SSL): sasl.oauthbearer.method=oidc, so
librdkafka fetches and refreshes the token itself from --oauth-token-url.
Every topic the program creates is deleted at the end (unless --keep-topic).
"""
import json
import threading
import time

import confluent_kafka
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource,
                                   NewPartitions, NewTopic, OffsetSpec, ResourceType)
from confluent_kafka import ConsumerGroupTopicPartitions

import common
from common import StopRule, log, messages, ready_records, verify_exactly_once


# Error events of every client of the program (librdkafka reports connection and
# authentication problems through error_cb, not as exceptions): (code, text) in order.
ERRORS = []
ERRORS_LOCK = threading.Lock()


def on_error(err):
    with ERRORS_LOCK:
        ERRORS.append((err.code(), err.str()))
    log(f"client error: {err}")


def auth_errors():
    """Texts of the authentication errors reported so far (token fetch or broker refusal).
    librdkafka also reports a connection that drops during its SASL handshake as an
    authentication error ("... handshake failed: Local: Broker transport failure"); that is the
    network, not a refusal, and it reconnects."""
    with ERRORS_LOCK:
        return [text for code, text in ERRORS
                if code in (KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED)
                and "Broker transport failure" not in text]


def client_config(args, **extra):
    """librdkafka configuration shared by every client the program creates: the single
    place for connection and security options."""
    conf = {
        "bootstrap.servers": args.bootstrap,
        "security.protocol": args.security_protocol,
        "client.id": f"kop-confluent-{args.scenario}",
        "error_cb": on_error,
    }
    if args.ca_file:
        conf["ssl.ca.location"] = args.ca_file
    if args.sasl_mechanism == "OAUTHBEARER":
        # librdkafka's built-in OIDC client: it fetches the token (client-credentials grant,
        # client_secret_basic) and refreshes it at 80% of its lifetime by itself.
        conf.update({
            "sasl.mechanism": "OAUTHBEARER",
            "sasl.oauthbearer.method": "oidc",
            "sasl.oauthbearer.token.endpoint.url": args.oauth_token_url,
            "sasl.oauthbearer.client.id": args.oauth_client_id,
            "sasl.oauthbearer.client.secret": args.oauth_client_secret,
        })
        if args.oauth_scope:
            conf["sasl.oauthbearer.scope"] = args.oauth_scope
        if args.ca_file and args.oauth_token_url.startswith("https:"):
            conf["https.ca.location"] = args.ca_file
    conf.update(extra)
    return conf


# --- admin helpers -------------------------------------------------------------------

def create_topic(admin, args, deadline):
    new = NewTopic(args.topic, num_partitions=args.partitions,
                   replication_factor=args.replication_factor)
    futures = admin.create_topics([new], request_timeout=deadline.remaining(30),
                                  operation_timeout=deadline.remaining(30))
    futures[args.topic].result(timeout=deadline.remaining())
    while True:  # wait until every partition has a leader in the metadata
        md = admin.list_topics(timeout=deadline.remaining(10))
        t = md.topics.get(args.topic)
        if t and not t.error and len(t.partitions) == args.partitions and \
                all(p.leader >= 0 for p in t.partitions.values()):
            return
        if deadline.expired():
            raise TimeoutError(f"topic {args.topic} has no leaders in the metadata yet")
        time.sleep(0.2)


def delete_topic(admin, args, deadline, result):
    futures = admin.delete_topics([args.topic], request_timeout=deadline.remaining(30),
                                  operation_timeout=deadline.remaining(30))
    futures[args.topic].result(timeout=deadline.remaining())
    while args.topic in admin.list_topics(timeout=deadline.remaining(10)).topics:
        if deadline.expired():
            result.check(False, f"topic {args.topic} still listed after delete")
            return
        time.sleep(0.2)
    result["topic_deleted"] = True


def delete_group(admin, args, deadline, result):
    """Delete consumer group --group (left behind by the scenario's consumers), if it exists."""
    while True:
        future = admin.delete_consumer_groups([args.group], request_timeout=deadline.remaining(30))
        try:
            future[args.group].result(timeout=deadline.remaining())
            result["group_deleted"] = True
            return
        except KafkaException as e:
            code = e.args[0].code()
            if code == KafkaError.GROUP_ID_NOT_FOUND:
                return
            if code != KafkaError.NON_EMPTY_GROUP or deadline.expired():
                raise
            time.sleep(0.5)  # a member's LeaveGroup is still being processed


def offsets(admin, args, deadline, spec):
    """{partition: offset} for OffsetSpec.latest()/earliest() of every partition."""
    req = {TopicPartition(args.topic, p): spec for p in range(args.partitions)}
    futures = admin.list_offsets(req, request_timeout=deadline.remaining(30))
    return {tp.partition: f.result(timeout=deadline.remaining()).offset for tp, f in futures.items()}


def records_in_topic(admin, args, deadline):
    latest = offsets(admin, args, deadline, OffsetSpec.latest())
    earliest = offsets(admin, args, deadline, OffsetSpec.earliest())
    return sum(latest[p] - earliest[p] for p in latest)


def with_topic(body):
    """Create the topic, run body(args, result, deadline, admin, **kw), delete the topic and
    the consumer group."""
    def scenario(args, result, deadline, **kw):
        admin = AdminClient(client_config(args))
        create_topic(admin, args, deadline)
        try:
            body(args, result, deadline, admin, **kw)
        except BaseException:
            if not args.keep_topic:
                try:
                    delete_topic(admin, args, deadline, result)
                except Exception as e:  # noqa: BLE001 - the first error is the one to report
                    log(f"cleanup: could not delete {args.topic}: {e}")
            raise
        if not args.keep_topic:
            delete_topic(admin, args, deadline, result)
            delete_group(admin, args, deadline, result)
    return scenario


# --- produce / consume helpers -------------------------------------------------------

def send_all(producer, args, pairs, deadline, **produce_kw):
    """Produce (key, value) or (key, value, partition) tuples."""
    for key, value, *partition in pairs:
        where = {"partition": partition[0]} if partition else {}
        while True:
            try:
                producer.produce(args.topic, key=key, value=value, **where, **produce_kw)
                break
            except BufferError:  # local queue full: serve delivery reports, then retry
                if deadline.expired():
                    raise TimeoutError("producer queue stayed full until the deadline")
                producer.poll(0.05)
        producer.poll(0)


def produce(args, pairs, deadline, result, **conf):
    """Produce (key, value[, partition]) tuples, wait for all delivery reports; returns the acked count."""
    producer = Producer(client_config(args, **conf))
    acked, errors = 0, []

    def on_delivery(err, _msg):
        nonlocal acked
        if err:
            errors.append(str(err))
        else:
            acked += 1

    send_all(producer, args, pairs, deadline, on_delivery=on_delivery)
    left = producer.flush(deadline.remaining())
    result.check(left == 0, f"{left} messages still undelivered at the deadline")
    result.check(not errors, f"{len(errors)} delivery errors, first: {errors[:1]}")
    return acked


def consumer_conf(args, **extra):
    """Consumer in group --group reading from the earliest offset, committing only explicitly."""
    return client_config(args, **{
        "group.id": args.group, "group.protocol": args.group_protocol,
        "auto.offset.reset": "earliest", "enable.auto.commit": False, **extra})


def consumer_error(msg):
    """True if the polled item is an error event: fatal ones raise, others (e.g. a leader
    moving) are only logged, since librdkafka recovers from them by itself."""
    err = msg.error()
    if err is None:
        return False
    if err.fatal():
        raise KafkaException(err)
    log(f"consumer error (continuing): {err}")
    return True


def consume(args, deadline, total, settle_s=0.0, idle_s=None, **conf):
    """Subscribe with a fresh group from the beginning and read until common.StopRule(total,
    settle_s, idle_s) says enough. Returns [(key, value)] in arrival order."""
    consumer = Consumer(consumer_conf(args, **conf))
    consumer.subscribe([args.topic])
    got, stop = [], StopRule(total, settle_s, idle_s)
    try:
        while not stop.done() and not deadline.expired():
            batch = [m for m in consumer.consume(1000, timeout=deadline.remaining(0.5))
                     if not consumer_error(m)]
            got.extend((m.key().decode(), m.value().decode()) for m in batch)
            stop.add(len(batch))
    finally:
        consumer.close()
    return got


# --- scenarios -----------------------------------------------------------------------

@with_topic
def basic(args, result, deadline, admin, **producer_conf):
    expected = dict(messages(args.messages, args.tag))
    producer_conf = producer_conf or {"acks": "all", "enable.idempotence": False}
    result["produced"] = produce(args, expected.items(), deadline, result, **producer_conf)
    total = records_in_topic(admin, args, deadline)
    result["records_in_topic"] = total
    verify_exactly_once(result, expected, consume(args, deadline, total))


@with_topic
def admin(args, result, deadline, admin):
    def done(futures):
        return {k: f.result(timeout=deadline.remaining()) for k, f in futures.items()}

    result["produced"] = produce(args, messages(args.messages, args.tag), deadline, result,
                                 acks="all")
    result["listed_topics"] = sorted(admin.list_topics(timeout=deadline.remaining(10)).topics)
    result.check(args.topic in result["listed_topics"], f"{args.topic} is not listed")

    topic = ConfigResource(ResourceType.TOPIC, args.topic, incremental_configs=[
        ConfigEntry("retention.ms", "3600000", incremental_operation=AlterConfigOpType.SET)])
    done(admin.incremental_alter_configs([topic]))
    # Brokers learn a change of configuration from the controller: a describe right after the
    # alter may come before it.
    while True:
        configs = done(admin.describe_configs([ConfigResource(ResourceType.TOPIC, args.topic)]))
        result["retention_ms"] = next(iter(configs.values()))["retention.ms"].value
        if result["retention_ms"] == "3600000" or deadline.expired():
            break
        time.sleep(0.2)
    result.check(result["retention_ms"] == "3600000", f"retention.ms reads {result['retention_ms']}")

    done(admin.create_partitions([NewPartitions(args.topic, args.partitions + 1)]))
    while True:
        t = admin.list_topics(args.topic, timeout=deadline.remaining(10)).topics[args.topic]
        result["partitions"] = len(t.partitions)
        if result["partitions"] == args.partitions + 1 or deadline.expired():
            break
        time.sleep(0.2)
    result.check(result["partitions"] == args.partitions + 1,
                 f"{result['partitions']} partitions after create_partitions")

    args.partitions += 1
    end = offsets(admin, args, deadline, OffsetSpec.latest())
    records = records_in_topic(admin, args, deadline)
    done(admin.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(
        args.group, [TopicPartition(args.topic, p, o) for p, o in end.items()])]))
    # On a young cluster the group's coordinator may still be loading its partition: the
    # listing and the describe are asked again until they answer for the group (what the
    # listing could not reach is reported in "list_errors").
    while True:
        listed = admin.list_consumer_groups(request_timeout=deadline.remaining(10)).result()
        result["listed_groups"] = sorted(g.group_id for g in listed.valid)
        result["list_errors"] = sorted({str(e) for e in listed.errors})
        if args.group in result["listed_groups"] or deadline.expired():
            break
        time.sleep(0.2)
    result.check(args.group in result["listed_groups"], f"{args.group} is not listed")
    while True:
        try:
            described = done(admin.describe_consumer_groups([args.group]))[args.group]
            break
        except KafkaException as e:
            if not e.args[0].retriable() or deadline.expired():
                raise
            time.sleep(0.2)
    result["group_state"] = described.state.name
    committed = done(admin.list_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(args.group)]))[args.group]
    result["committed"] = sum(max(0, tp.offset) for tp in committed.topic_partitions)
    result.check(result["committed"] == records, f"{result['committed']} of {records} records committed")

    deleted = done(admin.delete_records([TopicPartition(args.topic, 0, end[0])]))
    result["low_watermark"] = next(iter(deleted.values())).low_watermark
    result.check(result["low_watermark"] == end[0],
                 f"partition 0 starts at {result['low_watermark']}, not {end[0]}")


def idempotent(args, result, deadline):
    basic(args, result, deadline, acks="all", **{"enable.idempotence": True})


@with_topic
def acks0(args, result, deadline, admin):
    pairs = messages(args.messages, args.tag)
    ready = produce(args, ready_records(args), deadline, result, acks="1")
    result["produced"] = produce(args, pairs, deadline, result, acks="0")
    marker = ("marker", f"marker-{args.tag}")
    produce(args, [marker], deadline, result, acks="1")
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
    producer = Producer(client_config(args, **{"transactional.id": f"kop-tx-{args.tag}"}))

    producer.init_transactions(deadline.remaining(30))
    producer.begin_transaction()
    send_all(producer, args, committed.items(), deadline)
    producer.commit_transaction(deadline.remaining(30))  # flushes; fails if any send failed
    producer.begin_transaction()
    send_all(producer, args, aborted, deadline)
    producer.flush(deadline.remaining())  # so the aborted batch really is in the log
    producer.abort_transaction(deadline.remaining(30))
    result["produced_committed"] = len(committed)
    result["produced_aborted"] = len(aborted)
    got = consume(args, deadline, len(committed), settle_s=3.0, **{"isolation.level": "read_committed"})
    verify_exactly_once(result, committed, got)


@with_topic
def group(args, result, deadline, admin):
    expected = dict(messages(args.messages, args.tag))
    result["produced"] = produce(args, expected.items(), deadline, result,
                                 acks="all", **{"enable.idempotence": False})
    lock = threading.Lock()
    processed = {}                     # key -> times processed (by A or B)
    counts = {"A": 0, "B": 0}
    history = {"A": [], "B": []}       # each member's assignment after every change
    owned = {"A": set(), "B": set()}
    commit_failures, errors = [], []
    start_b, b_assigned, done, failed = (threading.Event() for _ in range(4))

    def finished():  # all processed and B took part (even if A alone could have read it all)
        return (done.is_set() and b_assigned.is_set()) or failed.is_set() or deadline.expired()

    def member(name):
        # Callbacks get the whole assignment (eager, classic) or only the change (incremental).
        def on_assign(_c, parts):
            owned[name] |= {p.partition for p in parts}
            history[name].append(sorted(owned[name]))
            if name == "B" and parts:
                b_assigned.set()

        def on_revoke(_c, parts):
            owned[name] -= {p.partition for p in parts}
            history[name].append(sorted(owned[name]))

        consumer = Consumer(consumer_conf(args, **{"client.id": f"kop-confluent-group-{name}"}))
        consumer.subscribe([args.topic], on_assign=on_assign, on_revoke=on_revoke)
        try:
            while not finished():
                if name == "A":  # A leaves work for B: paused from 1/3 until B is assigned
                    parts = consumer.assignment()
                    if parts:
                        if start_b.is_set() and not b_assigned.is_set():
                            consumer.pause(parts)
                        else:
                            consumer.resume(parts)
                batch = [m for m in consumer.consume(500, timeout=0.5) if not consumer_error(m)]
                if not batch:
                    continue
                with lock:
                    for m in batch:
                        key = m.key().decode()
                        processed[key] = processed.get(key, 0) + 1
                        counts[name] += 1
                    if counts["A"] >= args.messages // 3:
                        start_b.set()
                    if len(processed) >= len(expected):
                        done.set()
                try:
                    consumer.commit(asynchronous=False)
                except KafkaException as e:  # e.g. a rebalance in progress: at-least-once
                    commit_failures.append(f"{name}: {e}")
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(f"{name}: {type(e).__name__}: {e}")
            failed.set()
        finally:
            consumer.close()

    threads = {"A": threading.Thread(target=member, args=("A",), daemon=True),
               "B": threading.Thread(target=member, args=("B",), daemon=True)}
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

    end = offsets(admin, args, deadline, OffsetSpec.latest())
    req = [ConsumerGroupTopicPartitions(args.group)]
    res = admin.list_consumer_group_offsets(req, request_timeout=deadline.remaining(30))
    committed = {tp.partition: tp.offset
                 for tp in res[args.group].result(timeout=deadline.remaining()).topic_partitions
                 if tp.topic == args.topic}
    result["committed"] = committed
    result["end_offsets"] = end
    behind = {p: (committed.get(p), e) for p, e in end.items() if committed.get(p) != e}
    result.check(not behind, f"committed offsets do not reach the end (partition: (committed, end)): {behind}")


@with_topic
def brokers(args, result, deadline, admin):
    addresses, detail = set(), {}

    def add(kind, host, port):
        addr = f"{host}:{port}"
        addresses.add(addr)
        detail.setdefault(kind, [])
        if addr not in detail[kind]:
            detail[kind].append(addr)

    cluster = admin.describe_cluster(request_timeout=deadline.remaining(30)).result(deadline.remaining())
    for n in cluster.nodes:
        add("cluster_nodes", n.host, n.port)
    if cluster.controller:
        add("controller", cluster.controller.host, cluster.controller.port)
    md = admin.list_topics(timeout=deadline.remaining(10))
    for b in md.brokers.values():
        add("metadata_brokers", b.host, b.port)
    for p in md.topics[args.topic].partitions.values():
        b = md.brokers[p.leader]
        add("partition_leaders", b.host, b.port)
    # Join a group so the coordinator is known, then ask the admin API for it.
    consumer = Consumer(consumer_conf(args))
    assigned = threading.Event()
    consumer.subscribe([args.topic], on_assign=lambda _c, parts: parts and assigned.set())
    try:
        while not assigned.is_set() and not deadline.expired():
            consumer.poll(0.2)
        result.check(assigned.is_set(), "consumer never got an assignment")
        desc = admin.describe_consumer_groups([args.group], request_timeout=deadline.remaining(30))
        coord = desc[args.group].result(deadline.remaining()).coordinator
        add("group_coordinator", coord.host, coord.port)
        for b in consumer.list_topics(args.topic, timeout=deadline.remaining(10)).brokers.values():
            add("consumer_metadata_brokers", b.host, b.port)
    finally:
        consumer.close()
    result.check(addresses, "no broker address learned")
    result["addresses"] = sorted(addresses)
    result["sources"] = detail


def auth_fail(args, result, deadline):
    """Connect with the given credentials (list topics through an admin client, produce one
    message): passes only if librdkafka reports an authentication error before the deadline."""
    admin = AdminClient(client_config(args))
    producer = Producer(client_config(args, **{"message.timeout.ms": ms(deadline.remaining())}))
    producer.produce(args.topic, key="auth-fail", value=args.tag)
    listed = None
    while not auth_errors() and not deadline.expired():
        try:
            md = admin.list_topics(timeout=deadline.remaining(2))
            listed = len(md.topics)
            break
        except KafkaException as e:  # e.g. _TRANSPORT or _TIMED_OUT while the broker refuses us
            log(f"list_topics: {e}")
        admin.poll(0)
        producer.poll(0.2)
    admin.poll(0)
    producer.poll(0)
    errors = auth_errors()
    result.update(topics_listed=listed, errors=[f"{KafkaError(c).name()}: {t}" for c, t in ERRORS[:10]])
    if errors:
        text = errors[0]
        source = "token_endpoint" if "acquire SASL OAUTHBEARER token" in text else "broker"
        common.record_auth_failure(result, args, text, source)
    elif listed is not None:
        result.check(False, f"authentication succeeded: list_topics returned {listed} topics")
    else:
        result.check(False, "no authentication error reported before the deadline")
    producer.purge()


def ms(seconds):
    return max(1, int(seconds * 1000))


def sasl_counts(stats):
    """(SaslAuthenticate requests, connects) summed over every broker handle in a
    librdkafka statistics document."""
    auths = connects = 0
    for b in stats.get("brokers", {}).values():
        auths += b.get("req", {}).get("SaslAuthenticate", 0)
        connects += b.get("connects", 0)
    return auths, connects


@with_topic
def reauth(args, result, deadline, admin):
    """A producer (acks=all) and a consumer (group --group) run for --duration-s at --rate
    msg/s; with short-lived tokens the connections must re-authenticate (KIP-368) on the way.
    Every acknowledged message must be consumed, and no authentication error reported. The
    re-authentication count comes from librdkafka's statistics: SaslAuthenticate requests
    minus connections."""
    stats = {}

    def stats_cb(name):
        def cb(doc):
            stats[name] = json.loads(doc)
        return cb

    acked, delivery_errors, consumed = set(), [], {}
    producer_done = threading.Event()
    producer = Producer(client_config(args, acks="all", **{
        "statistics.interval.ms": 1000, "stats_cb": stats_cb("producer")}))

    def on_delivery(err, msg):
        if err:
            delivery_errors.append(str(err))
        else:
            acked.add(msg.key().decode())

    def produce_loop():
        begin, sent = time.monotonic(), 0
        try:
            while time.monotonic() - begin < args.duration_s and not deadline.expired():
                due = int((time.monotonic() - begin) * args.rate)
                while sent < due:
                    producer.produce(args.topic, key=f"r-{sent}", value=f"v-{sent}-{args.tag}",
                                     on_delivery=on_delivery)
                    sent += 1
                producer.poll(0.02)
            producer.flush(deadline.remaining())
        finally:
            result["sent"] = sent
            producer_done.set()

    consumer = Consumer(consumer_conf(args, **{"statistics.interval.ms": 1000,
                                               "stats_cb": stats_cb("consumer")}))
    consumer.subscribe([args.topic])
    t = threading.Thread(target=produce_loop, daemon=True)
    t.start()
    try:
        while not deadline.expired():
            for m in consumer.consume(500, timeout=0.2):
                if not consumer_error(m):
                    k = m.key().decode()
                    consumed[k] = consumed.get(k, 0) + 1
            if producer_done.is_set() and all(k in consumed for k in acked):
                break
        for _ in range(3):  # let the last statistics arrive
            consumer.poll(0.4)
            producer.poll(0)
    finally:
        consumer.close()
    t.join(deadline.remaining() + 5)
    auths = connects = 0
    for name, doc in stats.items():
        a, c = sasl_counts(doc)
        result[f"{name}_sasl_authenticate"] = a
        result[f"{name}_connects"] = c
        auths, connects = auths + a, connects + c
    result.check(not delivery_errors, f"{len(delivery_errors)} delivery errors, first: {delivery_errors[:1]}")
    common.verify_reauth(result, args, acked, consumed, auth_errors(),
                         reauths=auths - connects if stats else None)


def produce_stats(args, result, deadline):
    """One producer (acks=all, no other client) sends --messages records to --topic (created
    by the broker on first use), waits until nothing is in flight, and reports what
    librdkafka itself counted on every connection it made, summed over its broker handles:
    "tx" requests and "txbytes" sent, "rx" responses and "rxbytes" received, "connects".
    These cover its broker connections: librdkafka drops the bootstrap connection from its
    statistics once it knows the brokers (every handle's latest figures are kept, by name,
    from every statistics document, and "handles" names them)."""
    stats, handles = {}, {}

    def on_stats(doc):
        parsed = json.loads(doc)
        stats["last"] = parsed
        for name, b in parsed.get("brokers", {}).items():
            handles[name] = b

    producer = Producer(client_config(args, acks="all", **{
        "statistics.interval.ms": 200, "stats_cb": on_stats}))
    for i in range(args.messages):
        producer.produce(args.topic, key=f"k-{i}", value=f"v-{i}-{args.tag}")
        producer.poll(0)
    left = producer.flush(deadline.remaining(60))
    result.check(left == 0, f"{left} records not delivered")
    # Quiet: nothing is sent any more; the statistics emitted from here on are final.
    time.sleep(1.0)
    stats.clear()
    while "last" not in stats and not deadline.expired():
        producer.poll(0.1)
    totals = {"tx": 0, "txbytes": 0, "rx": 0, "rxbytes": 0, "connects": 0}
    for b in handles.values():
        for k in totals:
            totals[k] += b.get(k, 0)
    result["handles"] = sorted(handles)
    result["produced"] = args.messages
    result["librdkafka"] = totals
    result.check(totals["tx"] > 0, "no statistics")


# --- authorization scenarios: report what the client observes ----------------------------

def error_name(e):
    """(name, text) of a failed operation: librdkafka's error name (KafkaError.name(), e.g.
    TOPIC_AUTHORIZATION_FAILED) for a KafkaException or a KafkaError, else the exception's type."""
    err = e.args[0] if isinstance(e, KafkaException) and e.args else e
    if isinstance(err, KafkaError):
        return err.name(), err.str()
    return type(e).__name__, str(e)


def bounded(**extra):
    """Settings that bound each request to 10 s."""
    return {"socket.timeout.ms": 10000, **extra}


def bounded_producer(**extra):
    """Producer settings that bound each request to 10 s and each delivery to common.AUTHZ_OP_S."""
    return bounded(acks="all", **{"message.timeout.ms": ms(common.AUTHZ_OP_S), **extra})


def deliver(producer, topic, key, value, deadline):
    """Produce one record and wait for its delivery report: the offset, or KafkaException with
    the report's error. A record still queued after message.timeout.ms (plus 5 s) is purged,
    which reports it as _PURGE_QUEUE/_PURGE_INFLIGHT."""
    report = {}
    producer.produce(topic, key=key, value=value,
                     on_delivery=lambda err, msg: report.update(err=err, msg=msg))
    producer.flush(deadline.remaining(common.AUTHZ_OP_S + 5))
    if not report:
        producer.purge()
        producer.flush(deadline.remaining(1))
    if not report:
        raise TimeoutError("no delivery report before the deadline")
    if report["err"] is not None:
        raise KafkaException(report["err"])
    return report["msg"].offset()


def authz_produce(args, result, deadline):
    """One producer (acks=all) sends one record to each topic."""
    produce_result, offsets = {}, {}
    producer = Producer(client_config(args, **bounded_producer()))

    def send(topic):
        offsets[topic] = deliver(producer, topic, "authz", f"v-{args.tag}", deadline)

    for topic in args.topics:
        produce_result[topic] = common.attempt(result, f"produce {topic}", lambda: send(topic), error_name)
    result.update(produce=produce_result, delivered_offsets=offsets)


def authz_consume(args, result, deadline):
    """A consumer in --group subscribes (earliest) and polls for --duration-s or until an error
    event that librdkafka does not retry by itself, then commits synchronously."""
    consume_result, commit, records = "ok", "skipped", 0
    by_topic, assigned = {}, set()
    consumer = Consumer(consumer_conf(args, **bounded()))
    try:
        consumer.subscribe(args.topics)
        end = time.monotonic() + args.duration_s
        while time.monotonic() < end and not deadline.expired() and consume_result == "ok":
            for m in consumer.consume(500, timeout=deadline.remaining(min(0.5, max(0.01, end - time.monotonic())))):
                err = m.error()
                if err is None:
                    records += 1
                    by_topic[m.topic()] = by_topic.get(m.topic(), 0) + 1
                elif err.retriable() and not err.fatal():
                    log(f"consumer error (librdkafka retries): {err}")
                elif consume_result == "ok":
                    consume_result = common.refused(result, "consume", *error_name(err))
            assigned.update(f"{tp.topic}-{tp.partition}" for tp in consumer.assignment())
        if consume_result == "ok":
            commit = common.attempt(result, "commit", lambda: consumer.commit(asynchronous=False), error_name)
    finally:
        consumer.close()
    result.update(consume=consume_result, records=records, records_by_topic=by_topic,
                  assigned=sorted(assigned), commit=commit)


def admin_outcomes(result, what, names, futures, deadline):
    """{name: "ok" | error name} for the futures of one admin request."""
    return {n: common.attempt(result, f"{what} {n}",
                              lambda f=futures[n]: f.result(timeout=deadline.remaining(common.AUTHZ_OP_S + 5)),
                              error_name)
            for n in names}


def authz_admin(args, result, deadline):
    """One AdminClient: list_topics, then --create, --delete and --describe-group, each
    independent. "list_topics" holds the sorted names the metadata returned without an error
    (internal topics included, as librdkafka lists them); "list_topics_errors" any with one."""
    admin = AdminClient(client_config(args, **bounded()))
    op = {"request_timeout": common.AUTHZ_OP_S}
    try:
        md = admin.list_topics(timeout=deadline.remaining(common.AUTHZ_OP_S))
        result["list_topics"] = sorted(n for n, t in md.topics.items() if t.error is None)
        errors = {n: t.error.name() for n, t in md.topics.items() if t.error is not None}
        if errors:
            result["list_topics_errors"] = errors
    except Exception as e:  # noqa: BLE001 - what the client saw is the result
        result["list_topics"] = common.refused(result, "list_topics", *error_name(e))
    for what, names, call in (
            ("create", args.create, lambda: admin.create_topics(
                [NewTopic(n, num_partitions=1, replication_factor=args.replication_factor) for n in args.create],
                operation_timeout=common.AUTHZ_OP_S, **op)),
            ("delete", args.delete, lambda: admin.delete_topics(
                args.delete, operation_timeout=common.AUTHZ_OP_S, **op))):
        if not names:
            continue
        try:
            result[what] = admin_outcomes(result, what, names, call(), deadline)
        except Exception as e:  # noqa: BLE001 - the request itself could not be made
            name = common.refused(result, what, *error_name(e))
            result[what] = {n: name for n in names}
    if args.describe_group:
        g = args.describe_group

        def describe():
            d = admin.describe_consumer_groups([g], **op)[g].result(timeout=deadline.remaining(common.AUTHZ_OP_S + 5))
            result["describe_group_state"] = d.state.name

        result["describe_group"] = common.attempt(result, "describe_group", describe, error_name)


def authz_txn(args, result, deadline):
    """init_transactions, begin_transaction, produce one record, commit_transaction: "txn" and the
    step that failed (or "done")."""
    result["transactional_id"] = args.transactional_id
    producer = Producer(client_config(args, **bounded_producer(**{"transactional.id": args.transactional_id})))
    step = "init"

    def run():
        nonlocal step
        producer.init_transactions(deadline.remaining(common.AUTHZ_OP_S))
        step = "begin"
        producer.begin_transaction()
        step = "send"
        result["delivered_offset"] = deliver(producer, args.topic, "authz-txn", f"v-{args.tag}", deadline)
        step = "commit"
        producer.commit_transaction(deadline.remaining(common.AUTHZ_OP_S))
        step = "done"

    result["txn"] = common.attempt(result, "txn", run, error_name)
    result["step"] = step


SCENARIOS = {"basic": basic, "group": group, "acks0": acks0, "idempotent": idempotent,
             "transactions": transactions, "admin": admin, "brokers": brokers, "auth-fail": auth_fail,
             "reauth": reauth, "authz-produce": authz_produce, "authz-consume": authz_consume,
             "authz-admin": authz_admin, "authz-txn": authz_txn, "produce-stats": produce_stats}

if __name__ == "__main__":
    common.main("confluent", f"{confluent_kafka.__version__} (librdkafka {confluent_kafka.libversion()[0]})",
                SCENARIOS)
