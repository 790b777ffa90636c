#!/usr/bin/env python3
"""The librdkafka side of scripts/soak.sh: one idempotent producer (acks=all) and one consumer
group on one topic, through the proxy with OAUTHBEARER tokens that librdkafka fetches and
refreshes itself, for --duration-s, whatever happens around them.

  confluent_soak.py --bootstrap HOST:PORT --topic T --group G --token-url URL
      --client-id ID --client-secret S [--rate 200] [--value-bytes 512] [--duration-s 1800]
      --acked-file F --timeline F

Every --interval-s (10) it appends one JSON line to --timeline: the time, messages sent,
acknowledged and consumed so far, and the errors seen so far by kind (librdkafka's error
names, from delivery reports, consumer events and the error callback). Every acknowledged key
is appended to --acked-file. After the run the consumer keeps reading until it has seen every
acknowledged key or --drain-s passes; the last line of stdout is a JSON summary, and the exit
status is 0 only if no acknowledged key went unconsumed.
"""
import argparse
import collections
import json
import sys
import threading
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--group", required=True)
    p.add_argument("--token-url", required=True)
    p.add_argument("--client-id", required=True)
    p.add_argument("--client-secret", required=True)
    p.add_argument("--rate", type=float, default=200.0)
    p.add_argument("--value-bytes", type=int, default=512)
    p.add_argument("--duration-s", type=float, default=1800.0)
    p.add_argument("--drain-s", type=float, default=180.0)
    p.add_argument("--interval-s", type=float, default=10.0)
    p.add_argument("--acked-file", required=True)
    p.add_argument("--timeline", required=True)
    return p.parse_args()


class Counts:
    """Counters shared by librdkafka's callbacks and the main loop."""

    def __init__(self):
        self.lock = threading.Lock()
        self.sent = self.acked = self.consumed = self.redelivered = 0
        self.errors = collections.Counter()  # "source:NAME" -> times
        self.first_text = {}  # "source:NAME" -> first text seen

    def error(self, source, err):
        kind = f"{source}:{err.name()}"
        with self.lock:
            self.errors[kind] += 1
            self.first_text.setdefault(kind, err.str()[:300])

    def snapshot(self):
        with self.lock:
            return {"sent": self.sent, "acked": self.acked, "consumed": self.consumed,
                    "redelivered": self.redelivered, "errors": dict(self.errors)}


def config(args, counts, **extra):
    conf = {
        "bootstrap.servers": args.bootstrap,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "OAUTHBEARER",
        "sasl.oauthbearer.method": "oidc",
        "sasl.oauthbearer.token.endpoint.url": args.token_url,
        "sasl.oauthbearer.client.id": args.client_id,
        "sasl.oauthbearer.client.secret": args.client_secret,
        "client.id": "kop-soak-confluent",
        "error_cb": lambda err: counts.error("client", err),
    }
    conf.update(extra)
    return conf


def ensure_topic(args, counts):
    admin = AdminClient(config(args, counts))
    futures = admin.create_topics([NewTopic(args.topic, num_partitions=6, replication_factor=3)],
                                  request_timeout=30, operation_timeout=30)
    try:
        futures[args.topic].result(timeout=60)
    except KafkaException as e:
        if e.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            raise


def main():
    args = parse_args()
    counts = Counts()
    ensure_topic(args, counts)
    acked_out = open(args.acked_file, "w", buffering=1)
    timeline = open(args.timeline, "a", buffering=1)
    acked_keys, seen = set(), set()
    done = threading.Event()

    def on_delivery(err, msg):
        if err:
            counts.error("delivery", err)
            return
        key = msg.key().decode()
        with counts.lock:
            counts.acked += 1
            acked_keys.add(key)
        acked_out.write(key + "\n")

    producer = Producer(config(args, counts, **{
        "acks": "all", "enable.idempotence": True, "linger.ms": 5,
        # Keep retrying through broker restarts and a provider outage instead of failing messages.
        "message.timeout.ms": 600000}))
    consumer = Consumer(config(args, counts, **{
        "group.id": args.group, "auto.offset.reset": "earliest", "enable.auto.commit": True}))
    consumer.subscribe([args.topic])
    padding = "x" * max(0, args.value_bytes - 24)

    def produce_loop():
        begin, sent = time.monotonic(), 0
        while time.monotonic() - begin < args.duration_s:
            due = int((time.monotonic() - begin) * args.rate)
            while sent < due:
                try:
                    producer.produce(args.topic, key=f"c-{sent}", value=f"v-{sent}-{padding}",
                                     on_delivery=on_delivery)
                    sent += 1
                    with counts.lock:
                        counts.sent = sent
                except BufferError:  # local queue full: let it drain
                    break
            producer.poll(0.02)
        producer.flush(args.drain_s)
        done.set()

    def sample():
        while not done.wait(args.interval_s):
            timeline.write(json.dumps({"t": time.time(), **counts.snapshot()}) + "\n")

    threading.Thread(target=produce_loop, daemon=True).start()
    threading.Thread(target=sample, daemon=True).start()
    drain_until = None
    while True:
        for m in consumer.consume(500, timeout=0.2):
            err = m.error()
            if err is not None:
                counts.error("consumer", err)
                if err.fatal():
                    raise KafkaException(err)
                continue
            key = m.key().decode()
            with counts.lock:
                if key in seen:
                    counts.redelivered += 1
                else:
                    seen.add(key)
                    counts.consumed += 1
        if done.is_set():
            drain_until = drain_until or time.monotonic() + args.drain_s
            with counts.lock:
                complete = acked_keys <= seen
            if complete or time.monotonic() > drain_until:
                break
    consumer.close()
    snap = counts.snapshot()
    timeline.write(json.dumps({"t": time.time(), **snap}) + "\n")
    with counts.lock:
        missing = len(acked_keys - seen)
    summary = {**snap, "unconsumed_acked": missing, "first_error_texts": counts.first_text}
    print(json.dumps(summary))
    return 0 if missing == 0 and snap["acked"] > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
