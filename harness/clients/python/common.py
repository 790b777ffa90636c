"""Shared plumbing for the Python client scenario programs (confluent_scenarios.py,
kafka_python_scenarios.py): command-line options, the overall deadline, checks and the
one-line JSON result.  Nothing here talks to Kafka; each program uses its library the
way an ordinary application would.

Contract (same for every client of harness/clients/run.sh):
  * stdout gets exactly one JSON line at the end: {"ok": bool, ...details...}
  * exit 0 only if every check passed; 1 if a check failed or an error occurred
    (the reason is on stderr and in "error"/"failures"); 2 for bad usage;
    3 if the hard deadline (--timeout) expired while a library call was stuck.
"""
import argparse
import json
import logging
import os
import re
import sys
import threading
import time
import uuid

DEFAULT_TIMEOUT_S = 120.0


def parse_args(client, scenarios, argv=None):
    p = argparse.ArgumentParser(prog=f"run.sh {client}", description=f"{client} scenarios")
    p.add_argument("scenario", choices=sorted(scenarios))
    p.add_argument("--bootstrap", required=True, help="HOST:PORT[,HOST:PORT...]")
    p.add_argument("--topic", action="append", default=[],
                   help="topic name (default: unique random name); authz-*: repeatable")
    p.add_argument("--topics", action="append", default=[], help="authz-*: topics A,B")
    p.add_argument("--group", help="consumer group id (default: unique random name)")
    p.add_argument("--messages", type=int, default=10000)
    p.add_argument("--partitions", type=int, default=6)
    p.add_argument("--replication-factor", type=int, default=3)
    p.add_argument("--security-protocol", default="PLAINTEXT", type=str.upper,
                   choices=["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"])
    p.add_argument("--ca-file", help="PEM CA bundle that signs the brokers' certificates (SSL)")
    p.add_argument("--sasl-mechanism", type=str.upper, choices=["OAUTHBEARER"],
                   help="SASL mechanism (SASL_* protocols; default OAUTHBEARER)")
    p.add_argument("--oauth-token-url", help="OAuth token endpoint (client-credentials grant)")
    p.add_argument("--oauth-client-id")
    p.add_argument("--oauth-client-secret")
    p.add_argument("--oauth-scope", help="scope to request (optional)")
    p.add_argument("--duration-s", type=float,
                   help="reauth: how long the producer and the consumer run (30); "
                        "authz-consume: how long to poll (10)")
    p.add_argument("--rate", type=float, default=20.0, help="reauth: messages per second")
    p.add_argument("--min-reauth", type=int, default=0,
                   help="reauth: fail unless at least this many re-authentications were counted")
    p.add_argument("--expect-error",
                   help="auth-fail: regular expression the reported error text must match")
    p.add_argument("--timeout", type=float,
                   help=f"overall deadline in seconds (default {DEFAULT_TIMEOUT_S:g}; reauth: "
                        "--duration-s + 90)")
    p.add_argument("--keep-topic", action="store_true", help="do not delete the topic at the end")
    p.add_argument("--group-protocol", default="classic", choices=["classic", "consumer"],
                   help="consumer group protocol (consumer = KIP-848; confluent only)")
    p.add_argument("--create", action="append", default=[], help="authz-admin: topics A,B to create")
    p.add_argument("--delete", action="append", default=[], help="authz-admin: topics A,B to delete")
    p.add_argument("--describe-group", help="authz-admin: a consumer group to describe")
    p.add_argument("--transactional-id", help="authz-txn: the producer's transactional.id")
    args = p.parse_args(argv)
    topics = args.topic + [t for v in args.topics for t in split_list(v)]
    args.topics = list(dict.fromkeys(topics))  # every --topic and --topics value, once each
    args.topic = args.topic[-1] if args.topic else None
    args.create = list(dict.fromkeys(t for v in args.create for t in split_list(v)))
    args.delete = list(dict.fromkeys(t for v in args.delete for t in split_list(v)))
    if args.duration_s is None:
        args.duration_s = 10.0 if args.scenario == "authz-consume" else 30.0
    if args.scenario in ("authz-produce", "authz-consume", "authz-txn") and not args.topics:
        p.error(f"{args.scenario} needs --topic or --topics")
    if args.scenario == "authz-txn":
        if len(args.topics) != 1:
            p.error("authz-txn takes exactly one --topic")
        if not args.transactional_id:
            p.error("authz-txn needs --transactional-id")
        args.topic = args.topics[0]
    if args.messages < 1:
        p.error("--messages must be >= 1")
    if args.security_protocol.startswith("SASL_"):
        args.sasl_mechanism = args.sasl_mechanism or "OAUTHBEARER"
        missing = [o for o in ("token_url", "client_id", "client_secret")
                   if not getattr(args, f"oauth_{o}")]
        if missing:
            p.error(f"{args.security_protocol} with OAUTHBEARER needs "
                    + " ".join(f"--oauth-{o.replace('_', '-')}" for o in missing))
    elif args.sasl_mechanism:
        p.error("--sasl-mechanism needs --security-protocol SASL_PLAINTEXT or SASL_SSL")
    if args.duration_s <= 0 or args.rate <= 0:
        p.error("--duration-s and --rate must be positive")
    if args.timeout is None:
        args.timeout = args.duration_s + 90 if args.scenario == "reauth" else DEFAULT_TIMEOUT_S
    tag = uuid.uuid4().hex[:10]
    args.tag = tag
    args.topic = args.topic or f"kop-{client}-{args.scenario}-{tag}"
    args.group = args.group or f"kop-{client}-{args.scenario}-{tag}"
    return args


def split_list(value):
    """A comma-separated list option: the non-empty, trimmed items."""
    return [v.strip() for v in value.split(",") if v.strip()]


class Deadline:
    """Soft deadline for wait loops; it ends a little before the hard watchdog so the
    program can still report (and clean up) before being killed."""

    def __init__(self, timeout_s):
        self.end = time.monotonic() + max(1.0, timeout_s - min(10.0, timeout_s * 0.15))

    def remaining(self, cap=None):
        left = max(0.0, self.end - time.monotonic())
        return left if cap is None else min(left, cap)

    def expired(self):
        return time.monotonic() >= self.end


class Result(dict):
    """The result line.  check() records failed checks instead of stopping, so the
    JSON line shows every problem at once."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.failures = []

    def check(self, cond, message):
        if not cond:
            self.failures.append(message)
        return cond


class StopRule:
    """When a consumer has read enough: `total` messages plus `settle_s` more seconds (to catch
    extras), or `idle_s` seconds without a new message once at least one arrived."""

    def __init__(self, total, settle_s=0.0, idle_s=None):
        self.total, self.settle_s, self.idle_s = total, settle_s, idle_s
        self.count, self.last, self.settle_end = 0, time.monotonic(), None

    def add(self, n):
        if n:
            self.count += n
            self.last = time.monotonic()

    def done(self):
        now = time.monotonic()
        if self.idle_s is not None and self.count and now - self.last >= self.idle_s:
            return True
        if self.count >= self.total:
            self.settle_end = self.settle_end or now + self.settle_s
            return now >= self.settle_end
        return False


def messages(n, tag, prefix="k"):
    """N (key, value) pairs: distinct keys k-<i> and values v-<i>-<random suffix>."""
    return [(f"{prefix}-{i}", f"v-{i}-{tag}") for i in range(n)]


def ready_records(args):
    """One (ready-P, ready, P) record per partition. Written with acks>=1 before an acks=0 run:
    a leader that has not yet taken up a just-created partition refuses a write, with acks=0 by
    closing the connection, and every batch pipelined behind the refused one is lost; an
    acknowledged write is retried until each leader accepts."""
    return [(f"ready-{p}", "ready", p) for p in range(args.partitions)]


def verify_exactly_once(result, expected, received, label=""):
    """expected: {key: value}; received: list of (key, value) in arrival order.
    Fills counts into result and records a failure unless every expected key arrived
    exactly once with its exact value and nothing else arrived."""
    seen = {}
    wrong, unexpected = 0, 0
    for k, v in received:
        seen[k] = seen.get(k, 0) + 1
        if k not in expected:
            unexpected += 1
        elif expected[k] != v:
            wrong += 1
    missing = sum(1 for k in expected if k not in seen)
    duplicates = sum(c - 1 for c in seen.values() if c > 1)
    p = f"{label}_" if label else ""
    result.update({f"{p}consumed": len(received), f"{p}missing": missing,
                   f"{p}duplicates": duplicates, f"{p}wrong_value": wrong,
                   f"{p}unexpected": unexpected})
    result.check(missing == 0, f"{missing} of {len(expected)} messages missing")
    result.check(duplicates == 0, f"{duplicates} duplicate messages")
    result.check(wrong == 0, f"{wrong} messages with a wrong value")
    result.check(unexpected == 0, f"{unexpected} unexpected messages")


# An error text that means the broker refused the credentials (SaslAuthenticate error 58,
# SASL_AUTHENTICATION_FAILED, or the OAUTHBEARER error challenge {"status":"invalid_token"}).
BROKER_AUTH_ERROR = re.compile(
    r"SASL_AUTHENTICATION_FAILED|SaslAuthenticationFailed|Authentication failed|"
    r"SASL authentication error|invalid_token|invalid credentials", re.IGNORECASE)


def record_auth_failure(result, args, error_text, source):
    """auth-fail: the client reported an authentication failure. source is "broker" (the broker
    refused the token) or "token_endpoint" (the client could not get a token at all)."""
    result["error_text"] = error_text
    result["auth_error_source"] = source
    if args.expect_error:
        result.check(re.search(args.expect_error, error_text) is not None,
                     f"error text does not match --expect-error {args.expect_error!r}")


def verify_reauth(result, args, acked, consumed, auth_errors, reauths=None):
    """reauth: every acknowledged key consumed (at least once), no authentication error.
    acked: set of keys; consumed: {key: times}; auth_errors: list of texts; reauths: count
    of re-authentications if the library exposes it (None: unknown)."""
    missing = [k for k in acked if k not in consumed]
    result.update(acked=len(acked), consumed_distinct=len(consumed),
                  consumed_total=sum(consumed.values()), missing=len(missing),
                  auth_errors=len(auth_errors), auth_error_samples=auth_errors[:5])
    if reauths is not None:
        result["reauthentications"] = reauths
    result.check(acked, "no message was acknowledged")
    result.check(not missing, f"{len(missing)} of {len(acked)} acknowledged messages not consumed, "
                              f"first: {sorted(missing)[:3]}")
    result.check(not auth_errors, f"{len(auth_errors)} authentication errors, first: {auth_errors[:1]}")
    if args.min_reauth:
        result.check(reauths is not None and reauths >= args.min_reauth,
                     f"{reauths} re-authentications counted, expected >= {args.min_reauth}")


# --- authz-* scenarios: report what the client observes ---------------------------------
# They do not judge: "ok" is true when they ran to the end, refusals included. A failed
# operation is reported by the library's own name for the error (each program's error_name),
# its text goes into "error_texts". Every operation is bounded by the library's own timeouts
# to about AUTHZ_OP_S, so a refusal that a library does not recognise shows as a timeout
# instead of hanging the scenario.
AUTHZ_OP_S = 15.0


def refused(result, what, name, text):
    """Records a failed operation (name and text) and returns its name."""
    log(f"{what}: {name}: {text}")
    result.setdefault("error_texts", {})[what] = f"{name}: {text}"
    return name


def attempt(result, what, op, error_name):
    """Runs op(): "ok", or the name error_name(exception) -> (name, text) gives for its failure."""
    try:
        op()
        return "ok"
    except Exception as e:  # noqa: BLE001 - what the client saw is the result
        return refused(result, what, *error_name(e))


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def library_debug_log(client, args):
    """The library's DEBUG log goes to a file under $KOP_WORK/client-logs (kafka-python logs
    through `logging`; librdkafka's own log goes to stderr as before). On a failure its tail
    is printed, so a stall that the library does not report still leaves a trace."""
    folder = os.path.join(os.environ.get("KOP_WORK", "/tmp"), "client-logs")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{client}-{args.scenario}-{args.tag}.log")
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    handler.setLevel(logging.DEBUG)
    logger = logging.getLogger("kafka")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    return path


def print_tail(path, lines=40):
    try:
        with open(path, errors="replace") as f:
            tail = f.readlines()[-lines:]
    except OSError:
        return
    if tail:
        print(f"--- last {len(tail)} lines of {path}", file=sys.stderr)
        sys.stderr.write("".join(tail))
        sys.stderr.flush()


# Functions a client module registers to explain a failure that is the library's own fault
# (a known bug, recognised by its signature): each returns {} or {"client_fault": "..."}, which
# goes into the JSON line of a failed run. The Rust tests run such a scenario once more.
FAILURE_HINTS = []


def main(client, library_version, scenarios, argv=None):
    """Parse options, run one scenario under a deadline, print the JSON line, exit."""
    args = parse_args(client, scenarios, argv)
    debug_log = library_debug_log(client, args)
    result = Result(client=client, library_version=library_version, scenario=args.scenario)
    if args.scenario.startswith("authz-") and args.scenario != "authz-txn":
        if args.topics:
            result["topics"] = args.topics
        if args.scenario == "authz-consume":
            result["group"] = args.group
    else:
        result["topic"] = args.topic
    started = time.monotonic()
    out_lock = threading.Lock()

    def finish(ok, error=None, code=None):
        with out_lock:
            line = {"ok": ok, **result, "duration_s": round(time.monotonic() - started, 3)}
            if result.failures:
                line["failures"] = list(result.failures)
            if not ok:
                for hint in FAILURE_HINTS:
                    line.update(hint())
            if error:
                line["error"] = error
            print(json.dumps(line), flush=True)
            if not ok:
                print_tail(debug_log)
                why = error or "; ".join(result.failures)
                print(f"FAIL {client} {args.scenario}: {why}", file=sys.stderr, flush=True)
            else:
                os.unlink(debug_log)
            os._exit(code if code is not None else (0 if ok else 1))

    # Hard watchdog: a library call that ignores its own timeout cannot hang us.
    watchdog = threading.Timer(args.timeout, finish, args=(False, f"hard timeout: still running after {args.timeout}s", 3))
    watchdog.daemon = True
    watchdog.start()
    try:
        scenarios[args.scenario](args, result, Deadline(args.timeout))
    except Exception as e:  # noqa: BLE001 - any library error fails the scenario
        finish(False, f"{type(e).__name__}: {e}")
    finish(not result.failures)
