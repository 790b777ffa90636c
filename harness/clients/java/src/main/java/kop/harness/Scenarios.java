package kop.harness;

import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Collectors;

import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.ListGroupsOptions;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.CommitFailedException;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.ElectionType;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.config.SaslConfigs;
import org.apache.kafka.common.quota.ClientQuotaFilter;
import org.apache.kafka.common.errors.AuthenticationException;
import org.apache.kafka.common.errors.SaslAuthenticationException;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.errors.GroupIdNotFoundException;
import org.apache.kafka.common.errors.GroupNotEmptyException;
import org.apache.kafka.common.errors.RebalanceInProgressException;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.common.utils.internals.AppInfoParser; // only to report the version

/**
 * Kafka scenarios with the reference Java client (org.apache.kafka:kafka-clients), used the way
 * an ordinary application would. Run through harness/clients/run.sh java SCENARIO --bootstrap ...
 *
 * <pre>
 * basic              admin-create a topic (6 partitions, RF 3); produce N keyed messages (acks=all);
 *                    a consumer group reads them from the beginning: every key exactly once with
 *                    its exact value; admin-delete the topic and see it gone.
 * group              produce N; consumer A (explicit commitSync) reads part, then pauses until
 *                    consumer B joins the same group; a rebalance must move partitions from A to B;
 *                    together they process all N (duplicates reported, not failed); after both
 *                    close, the group's committed offsets must equal every partition's end offset.
 * acks0              one acks=1 record to every partition (so every leader accepts writes), then
 *                    N with acks=0 and flush, then a marker with acks=1: >= 99% of the N and the
 *                    marker must be readable (the proxy must not hang on acks=0).
 * idempotent         like basic with enable.idempotence=true: exactly once.
 * transactions       a transactional producer commits one batch and aborts another; a
 *                    read_committed consumer sees exactly the committed batch.
 * admin              the Admin client's topic, config, partition, group and record administration
 *                    on a topic of its own: after N records, listTopics ("listed_topics"),
 *                    incrementalAlterConfigs retention.ms and describeConfigs ("retention_ms"),
 *                    createPartitions to --partitions + 1 ("partitions"),
 *                    alterConsumerGroupOffsets of --group at every partition's end,
 *                    listGroups of consumer groups ("listed_groups"), describeConsumerGroups ("group_state"),
 *                    listConsumerGroupOffsets ("committed"), and deleteRecords of partition 0
 *                    ("low_watermark"); each must hold.
 * brokers            every broker address the client learns: describeCluster nodes + controller,
 *                    topic partition leaders/replicas, producer and consumer metadata, and the
 *                    group coordinator (FindCoordinator) of a joined group.
 * produce-continuous for --duration-s: acks=all, idempotent, endless retries, --rate msg/s; every
 *                    acknowledged key is appended to --acked-file; keeps going through errors.
 * consume-verify     reads the topic from the beginning to its end offsets: every key in
 *                    --acked-file must be there exactly once.
 * auth-fail          connect with the given credentials (admin listTopics, then produce one
 *                    message): passes only if the client reports an authentication failure
 *                    (SaslAuthenticationException from the broker, or the OAuth login failing at
 *                    the token endpoint) before the deadline; "error_text" holds it and
 *                    "auth_error_source" says which (broker | token_endpoint).
 * reauth             a producer (acks=all) and a consumer run for --duration-s at --rate msg/s
 *                    (default 20) on one topic; every acknowledged message must be consumed and no
 *                    authentication error reported. Re-authentications (KIP-368) come from the
 *                    clients' metrics (successful-reauthentication-total etc.).
 * authz-produce      (--topic T... | --topics A,B) one producer (acks=all) sends one record to each
 *                    topic (never creates one): "produce" {topic: "ok"|exception},
 *                    "delivered_offsets" {topic: offset}.
 * authz-consume      (--topics A,B --group G) a consumer in G subscribes (earliest) and polls for
 *                    --duration-s (10) or until an exception, then commitSync: "consume", "records",
 *                    "commit" ("skipped" if polling failed).
 * authz-admin        one Admin: listTopics ("list_topics": sorted names | exception), then
 *                    --create A,B (1 partition, --replication-factor), --delete A,B, and
 *                    --describe-group G, each independent: "create"/"delete" {topic: result},
 *                    "describe_group"; --ops T (a topic with one partition): one of each
 *                    administrative operation on T and on the cluster, "ops" {operation: result}
 *                    (describe_topic describe_configs alter_configs create_partitions
 *                    delete_records describe_producers list_offsets elect_leaders
 *                    list_reassignments describe_log_dirs describe_client_quotas broker_configs
 *                    list_transactions).
 * authz-txn          (--topic T --transactional-id X) init, begin, send one record, commit:
 *                    "txn" ("ok"|exception) and "step" (init|begin|send|commit|done).
 *                    The authz-* scenarios report, they do not judge: "ok" is true when they ran
 *                    to the end, refusals included. An exception is reported by the simple name of
 *                    the first org.apache.kafka.common.errors.* class in its cause chain (e.g.
 *                    TopicAuthorizationException), its text in "error_texts"; every operation is
 *                    bounded to ~15 s (max.block.ms, delivery.timeout.ms, default.api.timeout.ms).
 * </pre>
 * OAUTHBEARER (--security-protocol SASL_PLAINTEXT|SASL_SSL): the built-in OIDC login handler
 * (OAuthBearerLoginCallbackHandler, client-credentials grant at --oauth-token-url), which
 * refreshes the token itself; the JVM needs -Dorg.apache.kafka.sasl.oauthbearer.allowed.urls=URL
 * (run.sh adds it) and jose4j + jackson-databind on the classpath (pom.xml).
 * Output: one JSON line on stdout ({"ok":...}); exit 0 only if every check passed, 1 on a failed
 * check or error (reason on stderr), 2 on bad usage, 3 when the hard --timeout expired.
 * Every topic the program creates or verifies is deleted at the end (unless --keep-topic).
 */
public final class Scenarios {

    static final String USAGE = "usage: Scenarios SCENARIO --bootstrap HOST:PORT[,...] [--topic T] [--group G]"
            + " [--messages N] [--partitions P] [--replication-factor R]"
            + " [--security-protocol PLAINTEXT|SSL|SASL_PLAINTEXT|SASL_SSL]"
            + " [--ca-file PEM] [--timeout S] [--keep-topic] [--group-protocol classic|consumer]"
            + " [--sasl-mechanism OAUTHBEARER] [--oauth-token-url URL] [--oauth-client-id ID]"
            + " [--oauth-client-secret SECRET] [--oauth-scope SCOPE]"
            + " [--duration-s S] [--rate MSG_PER_S] [--acked-file F] [--min-reauth N] [--expect-error REGEX]"
            + " [--topics A,B] [--create A,B] [--delete A,B] [--describe-group G] [--transactional-id X]\n"
            + "scenarios: basic group acks0 idempotent transactions admin brokers produce-continuous consume-verify"
            + " auth-fail reauth authz-produce authz-consume authz-admin authz-txn";
    static final List<String> SCENARIOS = List.of("basic", "group", "acks0", "idempotent", "transactions",
            "admin", "brokers", "produce-continuous", "consume-verify", "auth-fail", "reauth",
            "authz-produce", "authz-consume", "authz-admin", "authz-txn");

    /** Command-line options. */
    static final class Options {
        String scenario;
        String bootstrap;
        String topic;
        String group;
        int messages = 10_000;
        int partitions = 6;
        short replicationFactor = 3;
        String securityProtocol = "PLAINTEXT";
        String caFile;
        double timeoutS = 120;
        boolean keepTopic;
        String groupProtocol = "classic";
        double durationS = 30;
        int rate = 1000;
        String ackedFile;
        String saslMechanism;
        String oauthTokenUrl;
        String oauthClientId;
        String oauthClientSecret;
        String oauthScope;
        int minReauth;
        String expectError;
        final List<String> topics = new ArrayList<>(); // every --topic and --topics value (authz-*)
        final List<String> create = new ArrayList<>();
        final List<String> delete = new ArrayList<>();
        String describeGroup;
        String opsTopic;
        String transactionalId;
        final String tag = UUID.randomUUID().toString().replace("-", "").substring(0, 10);
    }

    static Options parse(String[] argv) {
        Options o = new Options();
        boolean timeoutGiven = false, rateGiven = false, durationGiven = false;
        for (int i = 0; i < argv.length; i++) {
            String a = argv[i];
            if (!a.startsWith("--")) {
                if (o.scenario != null) throw new IllegalArgumentException("unexpected argument: " + a);
                o.scenario = a;
                continue;
            }
            if (a.equals("--keep-topic")) {
                o.keepTopic = true;
                continue;
            }
            if (i + 1 >= argv.length) throw new IllegalArgumentException(a + " needs a value");
            String v = argv[++i];
            switch (a) {
                case "--bootstrap" -> o.bootstrap = v;
                case "--topic" -> { o.topic = v; o.topics.add(v); }
                case "--topics" -> o.topics.addAll(list(v));
                case "--create" -> o.create.addAll(list(v));
                case "--delete" -> o.delete.addAll(list(v));
                case "--describe-group" -> o.describeGroup = v;
                case "--ops" -> o.opsTopic = v;
                case "--transactional-id" -> o.transactionalId = v;
                case "--group" -> o.group = v;
                case "--messages" -> o.messages = Integer.parseInt(v);
                case "--partitions" -> o.partitions = Integer.parseInt(v);
                case "--replication-factor" -> o.replicationFactor = Short.parseShort(v);
                case "--security-protocol" -> o.securityProtocol = v.toUpperCase();
                case "--ca-file" -> o.caFile = v;
                case "--timeout" -> { o.timeoutS = Double.parseDouble(v); timeoutGiven = true; }
                case "--group-protocol" -> o.groupProtocol = v;
                case "--duration-s" -> { o.durationS = Double.parseDouble(v); durationGiven = true; }
                case "--rate" -> { o.rate = Integer.parseInt(v); rateGiven = true; }
                case "--acked-file" -> o.ackedFile = v;
                case "--sasl-mechanism" -> o.saslMechanism = v.toUpperCase();
                case "--oauth-token-url" -> o.oauthTokenUrl = v;
                case "--oauth-client-id" -> o.oauthClientId = v;
                case "--oauth-client-secret" -> o.oauthClientSecret = v;
                case "--oauth-scope" -> o.oauthScope = v;
                case "--min-reauth" -> o.minReauth = Integer.parseInt(v);
                case "--expect-error" -> o.expectError = v;
                default -> throw new IllegalArgumentException("unknown option: " + a);
            }
        }
        if (o.scenario == null || !SCENARIOS.contains(o.scenario))
            throw new IllegalArgumentException("missing or unknown scenario: " + o.scenario);
        if (o.bootstrap == null) throw new IllegalArgumentException("--bootstrap is required");
        if (!List.of("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL").contains(o.securityProtocol))
            throw new IllegalArgumentException("--security-protocol must be PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL");
        if (o.securityProtocol.startsWith("SASL_")) {
            if (o.saslMechanism == null) o.saslMechanism = "OAUTHBEARER";
            if (!o.saslMechanism.equals("OAUTHBEARER"))
                throw new IllegalArgumentException("--sasl-mechanism must be OAUTHBEARER");
            if (o.oauthTokenUrl == null || o.oauthClientId == null || o.oauthClientSecret == null)
                throw new IllegalArgumentException(o.securityProtocol
                        + " with OAUTHBEARER needs --oauth-token-url, --oauth-client-id and --oauth-client-secret");
        } else if (o.saslMechanism != null) {
            throw new IllegalArgumentException("--sasl-mechanism needs --security-protocol SASL_PLAINTEXT or SASL_SSL");
        }
        if (o.scenario.equals("reauth") && !rateGiven) o.rate = 20;
        if (o.scenario.equals("authz-consume") && !durationGiven) o.durationS = 10;
        if (List.of("authz-produce", "authz-consume", "authz-txn").contains(o.scenario) && o.topics.isEmpty())
            throw new IllegalArgumentException(o.scenario + " needs --topic or --topics");
        if (o.scenario.equals("authz-txn")) {
            if (o.topics.size() != 1) throw new IllegalArgumentException("authz-txn takes exactly one --topic");
            if (o.transactionalId == null) throw new IllegalArgumentException("authz-txn needs --transactional-id");
            o.topic = o.topics.get(0);
        }
        if (o.messages < 1) throw new IllegalArgumentException("--messages must be >= 1");
        if (o.scenario.equals("produce-continuous") || o.scenario.equals("consume-verify")) {
            if (o.ackedFile == null) throw new IllegalArgumentException(o.scenario + " needs --acked-file");
            if (o.topic == null) throw new IllegalArgumentException(o.scenario + " needs --topic");
        }
        if ((o.scenario.equals("produce-continuous") || o.scenario.equals("reauth")) && !timeoutGiven)
            o.timeoutS = Math.max(o.timeoutS, o.durationS + 90);
        if (o.topic == null) o.topic = "kop-java-" + o.scenario + "-" + o.tag;
        if (o.group == null) o.group = "kop-java-" + o.scenario + "-" + o.tag;
        return o;
    }

    /** A comma-separated list option: the non-empty, trimmed items. */
    static List<String> list(String v) {
        return java.util.Arrays.stream(v.split(",")).map(String::strip).filter(x -> !x.isEmpty()).toList();
    }

    // ---- result line, checks and deadline -------------------------------------------------

    static final Map<String, Object> result = Collections.synchronizedMap(new LinkedHashMap<>());
    static final List<String> failures = Collections.synchronizedList(new ArrayList<>());
    static long startNanos;
    static long softDeadlineNanos;
    static String scenarioName = "?";

    static boolean check(boolean cond, String message) {
        if (!cond) failures.add(message);
        return cond;
    }

    /** Time left before the soft deadline (which ends a little before the hard watchdog). */
    static long remainingMs() {
        return Math.max(0, (softDeadlineNanos - System.nanoTime()) / 1_000_000);
    }

    static long remainingMs(long capMs) {
        return Math.min(capMs, remainingMs());
    }

    static boolean expired() {
        return System.nanoTime() >= softDeadlineNanos;
    }

    static <T> T await(Future<T> f) throws Exception {
        try {
            return f.get(remainingMs(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            throw new TimeoutException("no answer from the cluster before the deadline (--timeout)");
        }
    }

    static void log(String msg) {
        System.err.println("[java " + scenarioName + "] " + msg);
    }

    static synchronized void finish(boolean ok, String error, int code) {
        Map<String, Object> line = new LinkedHashMap<>();
        line.put("ok", ok);
        synchronized (result) {
            line.putAll(result);
        }
        line.put("duration_s", Math.round((System.nanoTime() - startNanos) / 1e6) / 1e3);
        List<String> fails;
        synchronized (failures) {
            fails = new ArrayList<>(failures);
        }
        if (!fails.isEmpty()) line.put("failures", fails);
        if (error != null) line.put("error", error);
        System.out.println(json(line));
        System.out.flush();
        if (!ok) {
            System.err.println("FAIL java " + scenarioName + ": " + (error != null ? error : String.join("; ", fails)));
            System.err.flush();
        }
        Runtime.getRuntime().halt(code); // no waiting for client threads: the line is out
    }

    public static void main(String[] argv) {
        // The client logs through SLF4J: warnings and errors only, to stderr.
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
        System.setProperty("org.slf4j.simpleLogger.logFile", "System.err");
        startNanos = System.nanoTime();
        Options o;
        try {
            o = parse(argv);
        } catch (IllegalArgumentException e) {
            System.err.println(e.getMessage());
            System.err.println(USAGE);
            System.exit(2);
            return;
        }
        scenarioName = o.scenario;
        double softS = o.timeoutS - Math.min(10, o.timeoutS * 0.15);
        softDeadlineNanos = startNanos + (long) (Math.max(1, softS) * 1e9);
        result.put("client", "java");
        result.put("library_version", AppInfoParser.getVersion());
        result.put("scenario", o.scenario);
        if (o.scenario.startsWith("authz-") && !o.scenario.equals("authz-txn")) {
            if (!o.topics.isEmpty()) result.put("topics", o.topics);
            if (o.scenario.equals("authz-consume")) result.put("group", o.group);
        } else {
            result.put("topic", o.topic);
        }
        Thread watchdog = new Thread(() -> {
            try {
                Thread.sleep((long) (o.timeoutS * 1000));
                finish(false, "hard timeout: still running after " + o.timeoutS + "s", 3);
            } catch (InterruptedException ignored) {
                // not reached: the program halts instead
            }
        }, "watchdog");
        watchdog.setDaemon(true);
        watchdog.start();
        try {
            switch (o.scenario) {
                case "basic" -> basic(o, false);
                case "idempotent" -> basic(o, true);
                case "group" -> group(o);
                case "acks0" -> acks0(o);
                case "transactions" -> transactions(o);
                case "admin" -> administration(o);
                case "brokers" -> brokers(o);
                case "produce-continuous" -> produceContinuous(o);
                case "consume-verify" -> consumeVerify(o);
                case "auth-fail" -> authFail(o);
                case "reauth" -> reauth(o);
                case "authz-produce" -> authzProduce(o);
                case "authz-consume" -> authzConsume(o);
                case "authz-admin" -> authzAdmin(o);
                case "authz-txn" -> authzTxn(o);
                default -> throw new IllegalStateException(o.scenario);
            }
        } catch (Throwable t) {
            Throwable e = t instanceof ExecutionException && t.getCause() != null ? t.getCause() : t;
            String why = e.getClass().getSimpleName() + ": " + e.getMessage();
            if (e.getCause() != null && e.getCause() != e) why += " (cause: " + e.getCause() + ")";
            finish(false, why, 1);
        }
        finish(failures.isEmpty(), null, failures.isEmpty() ? 0 : 1);
    }

    // ---- client configuration: the one place for connection and security options ----------

    static Properties clientConfig(Options o) {
        Properties p = new Properties();
        p.put(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, o.bootstrap);
        p.put(CommonClientConfigs.SECURITY_PROTOCOL_CONFIG, o.securityProtocol);
        p.put(CommonClientConfigs.CLIENT_ID_CONFIG, "kop-java-" + o.scenario);
        if (o.caFile != null) {
            p.put("ssl.truststore.type", "PEM");
            p.put("ssl.truststore.location", o.caFile);
        }
        if ("OAUTHBEARER".equals(o.saslMechanism)) {
            // The built-in OIDC login: client-credentials grant at the token endpoint; the token is
            // refreshed by the login thread (at ~80% of its lifetime). Kafka 4.x takes the client
            // credentials as configs (the clientId/clientSecret/scope JAAS options are deprecated).
            p.put(SaslConfigs.SASL_MECHANISM, "OAUTHBEARER");
            p.put(SaslConfigs.SASL_LOGIN_CALLBACK_HANDLER_CLASS,
                    "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler");
            p.put(SaslConfigs.SASL_OAUTHBEARER_TOKEN_ENDPOINT_URL, o.oauthTokenUrl);
            p.put(SaslConfigs.SASL_OAUTHBEARER_CLIENT_CREDENTIALS_CLIENT_ID, o.oauthClientId);
            p.put(SaslConfigs.SASL_OAUTHBEARER_CLIENT_CREDENTIALS_CLIENT_SECRET, o.oauthClientSecret);
            if (o.oauthScope != null) p.put(SaslConfigs.SASL_OAUTHBEARER_SCOPE, o.oauthScope);
            p.put(SaslConfigs.SASL_JAAS_CONFIG,
                    "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required ;");
        }
        return p;
    }

    /** Admin calls (and close(), which waits for them) give up at the soft deadline. */
    static Admin admin(Options o) {
        return admin(o, 60_000);
    }

    /** Like admin(o), each call giving up after at most capMs. */
    static Admin admin(Options o, long capMs) {
        Properties p = clientConfig(o);
        int apiTimeout = (int) Math.max(1000, remainingMs(capMs));
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, apiTimeout);
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, Math.min(30_000, apiTimeout));
        return Admin.create(p);
    }

    static KafkaProducer<String, String> producer(Options o, Map<String, Object> extra) {
        Properties p = clientConfig(o);
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, Math.max(1000, remainingMs(60_000))); // send() waiting for metadata
        p.putAll(extra);
        return new KafkaProducer<>(p, new StringSerializer(), new StringSerializer());
    }

    /** A consumer in group --group reading from the earliest offset, committing only explicitly. */
    static KafkaConsumer<String, String> consumer(Options o, Map<String, Object> extra) {
        Properties p = clientConfig(o);
        p.put(ConsumerConfig.GROUP_ID_CONFIG, o.group);
        p.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, o.groupProtocol);
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        p.putAll(extra);
        return new KafkaConsumer<>(p, new StringDeserializer(), new StringDeserializer());
    }

    // ---- topic helpers -----------------------------------------------------------------------

    static void createTopic(Admin admin, Options o) throws Exception {
        await(admin.createTopics(List.of(new NewTopic(o.topic, o.partitions, o.replicationFactor))).all());
        waitForLeaders(admin, o);
    }

    static TopicDescription waitForLeaders(Admin admin, Options o) throws Exception {
        while (true) {
            try {
                TopicDescription d = await(admin.describeTopics(List.of(o.topic)).allTopicNames()).get(o.topic);
                if (d.partitions().stream().allMatch(p -> p.leader() != null && !p.leader().isEmpty())) return d;
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof UnknownTopicOrPartitionException)) throw e;
            }
            if (expired()) throw new TimeoutException("topic " + o.topic + " has no leaders in the metadata yet");
            Thread.sleep(200);
        }
    }

    static void deleteTopic(Admin admin, Options o) throws Exception {
        await(admin.deleteTopics(List.of(o.topic)).all());
        while (await(admin.listTopics().names()).contains(o.topic)) {
            if (expired()) {
                check(false, "topic " + o.topic + " still listed after delete");
                return;
            }
            Thread.sleep(200);
        }
        result.put("topic_deleted", true);
    }

    /** Delete consumer group --group (left behind by the scenario's consumers), if it exists. */
    static void deleteGroup(Admin admin, Options o) throws Exception {
        while (true) {
            try {
                await(admin.deleteConsumerGroups(List.of(o.group)).all());
                result.put("group_deleted", true);
                return;
            } catch (ExecutionException e) {
                if (e.getCause() instanceof GroupIdNotFoundException) return;
                if (!(e.getCause() instanceof GroupNotEmptyException) || expired()) throw e;
                Thread.sleep(500); // a member's LeaveGroup is still being processed
            }
        }
    }

    interface TopicBody {
        void run(Admin admin) throws Exception;
    }

    /** Create the topic, run the body, delete the topic (also when the body failed) and the group. */
    static void withTopic(Options o, TopicBody body) throws Exception {
        try (Admin admin = admin(o)) {
            createTopic(admin, o);
            try {
                body.run(admin);
            } catch (Throwable t) {
                if (!o.keepTopic) {
                    try {
                        deleteTopic(admin, o);
                    } catch (Exception e) {
                        log("cleanup: could not delete " + o.topic + ": " + e);
                    }
                }
                throw t;
            }
            if (!o.keepTopic) {
                deleteTopic(admin, o);
                deleteGroup(admin, o);
            }
        }
    }

    static Map<TopicPartition, Long> offsets(Admin admin, Options o, int partitions, OffsetSpec spec)
            throws Exception {
        Map<TopicPartition, OffsetSpec> req = new HashMap<>();
        for (int p = 0; p < partitions; p++) req.put(new TopicPartition(o.topic, p), spec);
        Map<TopicPartition, Long> out = new TreeMap<>(Comparator.comparingInt(TopicPartition::partition));
        await(admin.listOffsets(req).all()).forEach((tp, info) -> out.put(tp, info.offset()));
        return out;
    }

    static long recordsInTopic(Admin admin, Options o) throws Exception {
        Map<TopicPartition, Long> latest = offsets(admin, o, o.partitions, OffsetSpec.latest());
        Map<TopicPartition, Long> earliest = offsets(admin, o, o.partitions, OffsetSpec.earliest());
        return latest.entrySet().stream().mapToLong(e -> e.getValue() - earliest.get(e.getKey())).sum();
    }

    // ---- produce / consume helpers -------------------------------------------------------------

    static Map<String, String> messages(Options o, String prefix) {
        Map<String, String> m = new LinkedHashMap<>();
        for (int i = 0; i < o.messages; i++) m.put(prefix + "-" + i, "v-" + i + "-" + o.tag);
        return m;
    }

    /** Send every pair, wait for all acknowledgements; returns how many were acknowledged. */
    static int produce(Options o, Map<String, String> pairs, Map<String, Object> conf) {
        return produce(o, pairs.entrySet().stream()
                .map(kv -> new ProducerRecord<>(o.topic, kv.getKey(), kv.getValue())).toList(), conf);
    }

    static int produce(Options o, List<ProducerRecord<String, String>> records, Map<String, Object> conf) {
        AtomicInteger acked = new AtomicInteger();
        List<String> errors = Collections.synchronizedList(new ArrayList<>());
        try (KafkaProducer<String, String> producer = producer(o, conf)) {
            records.forEach(r -> producer.send(r, (md, e) -> {
                if (e != null) errors.add(e.toString());
                else acked.incrementAndGet();
            }));
            producer.flush();
        }
        check(errors.isEmpty(), errors.size() + " delivery errors, first: " + (errors.isEmpty() ? "" : errors.get(0)));
        return acked.get();
    }

    /**
     * Subscribe with group --group from the beginning; read until {@code total} records arrived
     * and then {@code settleMs} more (to catch extras), or until nothing new arrived for
     * {@code idleMs} (0: no idle limit) once something did.
     */
    static List<Map.Entry<String, String>> consume(Options o, long total, long settleMs, long idleMs,
                                                   Map<String, Object> conf) {
        List<Map.Entry<String, String>> got = new ArrayList<>();
        try (KafkaConsumer<String, String> consumer = consumer(o, conf)) {
            consumer.subscribe(List.of(o.topic));
            long settleEnd = -1, last = System.nanoTime();
            while (!expired()) {
                long now = System.nanoTime();
                if (idleMs > 0 && !got.isEmpty() && now - last >= idleMs * 1_000_000) break;
                if (got.size() >= total) {
                    if (settleEnd < 0) settleEnd = now + settleMs * 1_000_000;
                    if (now >= settleEnd) break;
                }
                ConsumerRecords<String, String> records = consumer.poll(Duration.ofMillis(remainingMs(500)));
                if (!records.isEmpty()) last = System.nanoTime();
                for (ConsumerRecord<String, String> r : records) got.add(Map.entry(r.key(), r.value()));
            }
        }
        return got;
    }

    /** Every expected key exactly once with its exact value, and nothing else. */
    static void verifyExactlyOnce(Map<String, String> expected, List<Map.Entry<String, String>> got) {
        Map<String, Integer> seen = new HashMap<>();
        int wrong = 0, unexpected = 0;
        for (Map.Entry<String, String> kv : got) {
            seen.merge(kv.getKey(), 1, Integer::sum);
            String want = expected.get(kv.getKey());
            if (want == null) unexpected++;
            else if (!want.equals(kv.getValue())) wrong++;
        }
        long missing = expected.keySet().stream().filter(k -> !seen.containsKey(k)).count();
        int duplicates = seen.values().stream().mapToInt(c -> c - 1).sum();
        result.put("consumed", got.size());
        result.put("missing", missing);
        result.put("duplicates", duplicates);
        result.put("wrong_value", wrong);
        result.put("unexpected", unexpected);
        check(missing == 0, missing + " of " + expected.size() + " messages missing");
        check(duplicates == 0, duplicates + " duplicate messages");
        check(wrong == 0, wrong + " messages with a wrong value");
        check(unexpected == 0, unexpected + " unexpected messages");
    }

    // ---- scenarios -----------------------------------------------------------------------------

    static void basic(Options o, boolean idempotent) throws Exception {
        withTopic(o, admin -> {
            Map<String, String> expected = messages(o, "k");
            result.put("produced", produce(o, expected, Map.of(
                    ProducerConfig.ACKS_CONFIG, "all", ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, idempotent)));
            long total = recordsInTopic(admin, o);
            result.put("records_in_topic", total);
            verifyExactlyOnce(expected, consume(o, total, 0, 0, Map.of()));
        });
    }

    static void administration(Options o) throws Exception {
        withTopic(o, admin -> {
            result.put("produced", produce(o, messages(o, "k"), Map.of(ProducerConfig.ACKS_CONFIG, "all")));
            List<String> topics = new ArrayList<>(await(admin.listTopics().names()));
            Collections.sort(topics);
            result.put("listed_topics", topics);
            check(topics.contains(o.topic), o.topic + " is not listed");

            ConfigResource topic = new ConfigResource(ConfigResource.Type.TOPIC, o.topic);
            AlterConfigOp retention = new AlterConfigOp(new ConfigEntry("retention.ms", "3600000"), AlterConfigOp.OpType.SET);
            await(admin.incrementalAlterConfigs(Map.of(topic, List.of(retention))).all());
            // Brokers learn a change of configuration from the controller: a describe right
            // after the alter may come before it.
            while (true) {
                ConfigEntry read = await(admin.describeConfigs(List.of(topic)).all()).get(topic).get("retention.ms");
                result.put("retention_ms", read == null ? null : read.value());
                if ("3600000".equals(result.get("retention_ms")) || expired()) break;
                Thread.sleep(200);
            }
            check("3600000".equals(result.get("retention_ms")), "retention.ms reads " + result.get("retention_ms"));

            await(admin.createPartitions(Map.of(o.topic, NewPartitions.increaseTo(o.partitions + 1))).all());
            int partitions;
            while (true) {
                partitions = await(admin.describeTopics(List.of(o.topic)).allTopicNames()).get(o.topic).partitions().size();
                if (partitions == o.partitions + 1 || expired()) break;
                Thread.sleep(200);
            }
            result.put("partitions", partitions);
            check(partitions == o.partitions + 1, partitions + " partitions after createPartitions");

            o.partitions += 1;
            Map<TopicPartition, Long> end = offsets(admin, o, o.partitions, OffsetSpec.latest());
            long records = recordsInTopic(admin, o);
            Map<TopicPartition, OffsetAndMetadata> commit = new HashMap<>();
            end.forEach((tp, offset) -> commit.put(tp, new OffsetAndMetadata(offset)));
            await(admin.alterConsumerGroupOffsets(o.group, commit).all());
            // On a young cluster the group's coordinator may still be loading its partition:
            // the listing is asked again until it names the group.
            List<String> groups;
            while (true) {
                groups = await(admin.listGroups(ListGroupsOptions.forConsumerGroups()).all()).stream()
                        .map(g -> g.groupId()).sorted().toList();
                if (groups.contains(o.group) || expired()) break;
                Thread.sleep(200);
            }
            result.put("listed_groups", groups);
            check(groups.contains(o.group), o.group + " is not listed");
            result.put("group_state", String.valueOf(
                    await(admin.describeConsumerGroups(List.of(o.group)).all()).get(o.group).groupState()));
            long committed = await(admin.listConsumerGroupOffsets(o.group).partitionsToOffsetAndMetadata())
                    .values().stream().mapToLong(m -> m == null ? 0 : Math.max(0, m.offset())).sum();
            result.put("committed", committed);
            check(committed == records, committed + " of " + records + " records committed");

            TopicPartition p0 = new TopicPartition(o.topic, 0);
            long low = await(admin.deleteRecords(Map.of(p0, RecordsToDelete.beforeOffset(end.get(p0))))
                    .lowWatermarks().get(p0)).lowWatermark();
            result.put("low_watermark", low);
            check(low == end.get(p0), "partition 0 starts at " + low + ", not " + end.get(p0));
        });
    }

    static void acks0(Options o) throws Exception {
        withTopic(o, admin -> {
            Map<String, String> data = messages(o, "k");
            // A leader that has not yet taken up a just-created partition refuses a write; with
            // acks=0 it refuses by closing the connection, and every batch pipelined behind it
            // is lost. One acks=1 record per partition (retried until accepted) comes first.
            List<ProducerRecord<String, String>> readyRecords = new ArrayList<>();
            for (int p = 0; p < o.partitions; p++) readyRecords.add(new ProducerRecord<>(o.topic, p, "ready-" + p, "ready"));
            int ready = produce(o, readyRecords, Map.of(
                    ProducerConfig.ACKS_CONFIG, "1", ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, false));
            result.put("produced", produce(o, data, Map.of(
                    ProducerConfig.ACKS_CONFIG, "0", ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, false)));
            String markerValue = "marker-" + o.tag;
            produce(o, Map.of("marker", markerValue), Map.of(
                    ProducerConfig.ACKS_CONFIG, "1", ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, false));
            // With acks=0/1 the high watermark may still lag (followers catching up), so read
            // until everything or until 5 s pass without a new message.
            List<Map.Entry<String, String>> got = consume(o, ready + o.messages + 1, 0, 5000, Map.of());
            Set<String> keys = got.stream().map(Map.Entry::getKey).collect(Collectors.toSet());
            long arrived = data.keySet().stream().filter(keys::contains).count();
            boolean marker = got.contains(Map.entry("marker", markerValue));
            result.put("consumed", got.size());
            result.put("arrived", arrived);
            result.put("records_in_topic", recordsInTopic(admin, o));
            result.put("marker_seen", marker);
            check(marker, "acks=1 marker not consumed");
            check(arrived >= 0.99 * o.messages, "only " + arrived + " of " + o.messages + " acks=0 messages arrived (< 99%)");
        });
    }

    static void transactions(Options o) throws Exception {
        withTopic(o, admin -> {
            Map<String, String> committed = messages(o, "k");
            Map<String, String> aborted = messages(o, "x");
            try (KafkaProducer<String, String> producer = producer(o,
                    Map.of(ProducerConfig.TRANSACTIONAL_ID_CONFIG, "kop-tx-" + o.tag))) {
                producer.initTransactions();
                producer.beginTransaction();
                committed.forEach((k, v) -> producer.send(new ProducerRecord<>(o.topic, k, v)));
                producer.commitTransaction(); // flushes; throws if any send failed
                producer.beginTransaction();
                aborted.forEach((k, v) -> producer.send(new ProducerRecord<>(o.topic, k, v)));
                producer.flush();
                producer.abortTransaction();
            }
            result.put("produced_committed", committed.size());
            result.put("produced_aborted", aborted.size());
            verifyExactlyOnce(committed, consume(o, committed.size(), 3000, 0,
                    Map.of(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed")));
        });
    }

    /** Two members of one group; A leaves work for B so that a rebalance must hand partitions over. */
    static final class GroupRun {
        final Options o;
        final int total;
        final Map<String, Integer> processed = new HashMap<>(); // key -> times processed
        final Map<String, Integer> counts = new HashMap<>(Map.of("A", 0, "B", 0));
        final Map<String, List<List<Integer>>> history = Map.of(
                "A", Collections.synchronizedList(new ArrayList<>()),
                "B", Collections.synchronizedList(new ArrayList<>()));
        final CountDownLatch startB = new CountDownLatch(1);
        final CountDownLatch bAssigned = new CountDownLatch(1);
        final AtomicInteger commitFailures = new AtomicInteger();
        volatile boolean done;
        volatile Exception error;

        GroupRun(Options o, int total) {
            this.o = o;
            this.total = total;
        }

        void member(String name) {
            try (KafkaConsumer<String, String> c = consumer(o, Map.of(
                    CommonClientConfigs.CLIENT_ID_CONFIG, "kop-java-group-" + name))) {
                c.subscribe(List.of(o.topic), new ConsumerRebalanceListener() {
                    @Override
                    public void onPartitionsRevoked(Collection<TopicPartition> parts) {
                    }

                    @Override
                    public void onPartitionsAssigned(Collection<TopicPartition> parts) {
                        history.get(name).add(c.assignment().stream().map(TopicPartition::partition).sorted().toList());
                        if (name.equals("B") && !c.assignment().isEmpty()) bAssigned.countDown();
                    }
                });
                // Until all is processed and B took part (even if A alone could have read it all).
                while (!(done && bAssigned.getCount() == 0) && error == null && !expired()) {
                    Set<TopicPartition> parts = c.assignment();
                    if (name.equals("A") && !parts.isEmpty()) { // paused from 1/3 until B is assigned
                        if (startB.getCount() == 0 && bAssigned.getCount() > 0) c.pause(parts);
                        else c.resume(parts);
                    }
                    ConsumerRecords<String, String> records = c.poll(Duration.ofMillis(500));
                    if (records.isEmpty()) continue;
                    synchronized (this) {
                        for (ConsumerRecord<String, String> r : records) {
                            processed.merge(r.key(), 1, Integer::sum);
                            counts.merge(name, 1, Integer::sum);
                        }
                        if (counts.get("A") >= total / 3) startB.countDown();
                        if (processed.size() >= total) done = true;
                    }
                    try {
                        c.commitSync(Duration.ofMillis(remainingMs(30_000)));
                    } catch (CommitFailedException | RebalanceInProgressException e) {
                        commitFailures.incrementAndGet(); // at-least-once: the next owner re-reads
                    }
                }
            } catch (Exception e) {
                error = e;
            }
        }
    }

    static void group(Options o) throws Exception {
        withTopic(o, admin -> {
            Map<String, String> expected = messages(o, "k");
            result.put("produced", produce(o, expected, Map.of(
                    ProducerConfig.ACKS_CONFIG, "all", ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, false)));
            GroupRun g = new GroupRun(o, expected.size());
            Thread a = new Thread(() -> g.member("A"), "member-A");
            Thread b = new Thread(() -> g.member("B"), "member-B");
            a.start();
            g.startB.await(remainingMs(), TimeUnit.MILLISECONDS);
            b.start();
            a.join(remainingMs() + 5000);
            b.join(remainingMs() + 5000);
            if (g.error != null) throw g.error;
            long missing;
            List<Integer> aSizes;
            synchronized (g) {
                missing = expected.keySet().stream().filter(k -> !g.processed.containsKey(k)).count();
                result.put("consumed_a", g.counts.get("A"));
                result.put("consumed_b", g.counts.get("B"));
                result.put("missing", missing);
                result.put("duplicates", g.processed.values().stream().mapToInt(c -> c - 1).sum());
                result.put("assignments_a", g.history.get("A"));
                result.put("assignments_b", g.history.get("B"));
                result.put("commit_failures", g.commitFailures.get());
                aSizes = g.history.get("A").stream().filter(l -> !l.isEmpty()).map(List::size).toList();
            }
            check(missing == 0, missing + " of " + expected.size() + " messages never processed");
            check(g.bAssigned.getCount() == 0, "consumer B was never assigned a partition");
            check(aSizes.size() >= 2 && aSizes.get(aSizes.size() - 1) < aSizes.get(0),
                    "consumer A's assignment did not shrink: " + g.history.get("A"));

            Map<TopicPartition, Long> end = offsets(admin, o, o.partitions, OffsetSpec.latest());
            Map<TopicPartition, OffsetAndMetadata> committed =
                    await(admin.listConsumerGroupOffsets(o.group).partitionsToOffsetAndMetadata());
            Map<Integer, Long> committedOut = new TreeMap<>(), endOut = new TreeMap<>();
            Map<Integer, List<Long>> behind = new TreeMap<>();
            end.forEach((tp, e) -> {
                OffsetAndMetadata c = committed.get(tp);
                Long co = c == null ? null : c.offset();
                committedOut.put(tp.partition(), co);
                endOut.put(tp.partition(), e);
                if (co == null || co.longValue() != e) behind.put(tp.partition(), java.util.Arrays.asList(co, e));
            });
            result.put("committed", committedOut);
            result.put("end_offsets", endOut);
            check(behind.isEmpty(), "committed offsets do not reach the end (partition=[committed, end]): " + behind);
        });
    }

    static void brokers(Options o) throws Exception {
        Set<String> addresses = new TreeSet<>();
        Map<String, Set<String>> sources = new LinkedHashMap<>();
        java.util.function.BiConsumer<String, Node> add = (kind, n) -> {
            if (n == null || n.isEmpty()) return;
            String addr = n.host() + ":" + n.port();
            addresses.add(addr);
            sources.computeIfAbsent(kind, k -> new TreeSet<>()).add(addr);
        };
        withTopic(o, admin -> {
            DescribeClusterResult cluster = admin.describeCluster();
            await(cluster.nodes()).forEach(n -> add.accept("cluster_nodes", n));
            add.accept("controller", await(cluster.controller()));
            for (TopicPartitionInfo p : waitForLeaders(admin, o).partitions()) {
                add.accept("partition_leaders", p.leader());
                p.replicas().forEach(n -> add.accept("partition_replicas", n));
                p.isr().forEach(n -> add.accept("partition_isr", n));
            }
            try (KafkaProducer<String, String> producer = producer(o, Map.of())) {
                for (PartitionInfo p : producer.partitionsFor(o.topic)) add.accept("producer_metadata_leaders", p.leader());
            }
            // Join the group (FindCoordinator + JoinGroup), then ask the admin API for its coordinator.
            try (KafkaConsumer<String, String> consumer = consumer(o, Map.of())) {
                consumer.subscribe(List.of(o.topic));
                while (consumer.assignment().isEmpty() && !expired()) consumer.poll(Duration.ofMillis(200));
                check(!consumer.assignment().isEmpty(), "consumer never got an assignment");
                for (PartitionInfo p : consumer.partitionsFor(o.topic)) add.accept("consumer_metadata_leaders", p.leader());
                add.accept("group_coordinator",
                        await(admin.describeConsumerGroups(List.of(o.group)).all()).get(o.group).coordinator());
            }
        });
        check(!addresses.isEmpty(), "no broker address learned");
        result.put("addresses", new ArrayList<>(addresses));
        result.put("sources", sources);
    }

    static void produceContinuous(Options o) throws Exception {
        try (Admin admin = admin(o)) {
            try {
                createTopic(admin, o);
                result.put("topic_created", true);
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof TopicExistsException)) throw e;
                waitForLeaders(admin, o);
                result.put("topic_created", false);
            }
        }
        Map<String, Object> conf = Map.of(
                ProducerConfig.ACKS_CONFIG, "all",
                ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true,
                ProducerConfig.RETRIES_CONFIG, Integer.MAX_VALUE,
                ProducerConfig.MAX_BLOCK_MS_CONFIG, 10_000);
        AtomicLong acked = new AtomicLong(), failed = new AtomicLong();
        List<String> errorSamples = Collections.synchronizedList(new ArrayList<>());
        long sent = 0;
        int restarts = 0;
        try (BufferedWriter w = Files.newBufferedWriter(Path.of(o.ackedFile))) {
            KafkaProducer<String, String> producer = producer(o, conf);
            long begin = System.nanoTime();
            long end = begin + (long) (o.durationS * 1e9);
            while (System.nanoTime() < end && !expired()) {
                long due = (long) ((System.nanoTime() - begin) / 1e9 * o.rate);
                for (; sent < due; sent++) {
                    String key = "k-" + sent;
                    try {
                        producer.send(new ProducerRecord<>(o.topic, key, "v-" + sent + "-" + o.tag), (md, e) -> {
                            if (e == null) {
                                acked.incrementAndGet();
                                synchronized (w) {
                                    try {
                                        w.write(key);
                                        w.newLine();
                                    } catch (IOException io) {
                                        throw new RuntimeException(io);
                                    }
                                }
                            } else {
                                failed.incrementAndGet();
                                if (errorSamples.size() < 10) errorSamples.add(key + ": " + e);
                            }
                        });
                    } catch (KafkaException e) { // the producer is unusable (fatal error): start a new one
                        failed.incrementAndGet();
                        if (errorSamples.size() < 10) errorSamples.add(key + ": " + e);
                        log("producer failed, restarting it: " + e);
                        producer.close(Duration.ZERO);
                        producer = producer(o, conf);
                        restarts++;
                    }
                }
                synchronized (w) {
                    w.flush();
                }
                Thread.sleep(10);
            }
            producer.close(Duration.ofMillis(remainingMs())); // waits for outstanding acknowledgements
            synchronized (w) {
                w.flush();
            }
        }
        result.put("sent", sent);
        result.put("acked", acked.get());
        result.put("failed", failed.get());
        result.put("unresolved", sent - acked.get() - failed.get());
        result.put("producer_restarts", restarts);
        result.put("error_samples", errorSamples);
        result.put("acked_file", o.ackedFile);
        check(acked.get() > 0, "no message was acknowledged");
    }

    static void consumeVerify(Options o) throws Exception {
        List<String> ackedList = Files.readAllLines(Path.of(o.ackedFile)).stream()
                .map(String::trim).filter(s -> !s.isEmpty()).toList();
        Set<String> acked = new java.util.HashSet<>(ackedList);
        try (Admin admin = admin(o)) {
            int partitions = waitForLeaders(admin, o).partitions().size();
            Map<TopicPartition, Long> end = offsets(admin, o, partitions, OffsetSpec.latest());
            Map<String, Integer> seen = new HashMap<>();
            Properties p = clientConfig(o); // no group: assign every partition and read to the end
            p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
            boolean reachedEnd = false;
            long records = 0;
            try (KafkaConsumer<String, String> c = new KafkaConsumer<>(p, new StringDeserializer(), new StringDeserializer())) {
                c.assign(end.keySet());
                c.seekToBeginning(end.keySet());
                while (!expired()) {
                    reachedEnd = end.entrySet().stream().allMatch(e -> c.position(e.getKey()) >= e.getValue());
                    if (reachedEnd) break;
                    for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(remainingMs(500)))) {
                        seen.merge(r.key(), 1, Integer::sum);
                        records++;
                    }
                }
            }
            long missing = acked.stream().filter(k -> !seen.containsKey(k)).count();
            long dupAcked = acked.stream().filter(k -> seen.getOrDefault(k, 0) > 1).count();
            long unackedPresent = seen.keySet().stream().filter(k -> !acked.contains(k)).count();
            result.put("acked", acked.size());
            result.put("acked_file_lines", ackedList.size());
            result.put("records", records);
            result.put("distinct_keys", seen.size());
            result.put("missing", missing);
            result.put("duplicated_acked", dupAcked);
            result.put("duplicates_total", seen.values().stream().mapToInt(n -> n - 1).sum());
            result.put("unacked_present", unackedPresent);
            check(reachedEnd, "did not reach the end offsets before the deadline");
            check(!acked.isEmpty(), "acked file is empty");
            check(missing == 0, missing + " acknowledged keys missing");
            check(dupAcked == 0, dupAcked + " acknowledged keys appear more than once");
            if (!o.keepTopic) deleteTopic(admin, o); // this scenario used no consumer group
        }
    }

    // ---- OAUTHBEARER scenarios ------------------------------------------------------------------

    /** The first cause that is an authentication failure, with its source, or null. */
    static Map.Entry<String, Throwable> authFailure(Throwable t) {
        Throwable login = null;
        for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
            if (c instanceof SaslAuthenticationException) return Map.entry("broker", c);
            if (login == null && (c instanceof javax.security.auth.login.LoginException
                    || c instanceof org.apache.kafka.common.security.oauthbearer.JwtRetrieverException
                    || c instanceof AuthenticationException)) login = c;
        }
        if (login == null) return null;
        return Map.entry(login instanceof AuthenticationException ? "broker" : "token_endpoint", login);
    }

    /** "Class: message", first line only (a LoginException's message carries a stack trace). */
    static String describe(Throwable t) {
        String m = String.valueOf(t.getMessage());
        int nl = m.indexOf('\n');
        return t.getClass().getSimpleName() + ": " + (nl < 0 ? m : m.substring(0, nl)).strip();
    }

    static void authFail(Options o) throws Exception {
        List<String> outcome = new ArrayList<>();
        Map.Entry<String, Throwable> failure = null;
        Integer listed = null;
        try (Admin admin = admin(o)) {
            listed = await(admin.listTopics().names()).size();
        } catch (Exception e) {
            outcome.add("admin: " + describe(e instanceof ExecutionException && e.getCause() != null ? e.getCause() : e));
            failure = authFailure(e);
        }
        if (failure == null && listed == null && !expired()) {
            try (KafkaProducer<String, String> producer = producer(o, Map.of(
                    ProducerConfig.MAX_BLOCK_MS_CONFIG, Math.max(1000, remainingMs(15_000))))) {
                producer.send(new ProducerRecord<>(o.topic, "auth-fail", o.tag)).get(remainingMs(), TimeUnit.MILLISECONDS);
            } catch (Exception e) {
                outcome.add("producer: " + describe(e instanceof ExecutionException && e.getCause() != null ? e.getCause() : e));
                failure = authFailure(e);
            }
        }
        result.put("topics_listed", listed);
        result.put("exceptions", outcome);
        if (failure != null) {
            String text = describe(failure.getValue());
            result.put("error_text", text);
            result.put("auth_error_source", failure.getKey());
            if (o.expectError != null)
                check(java.util.regex.Pattern.compile(o.expectError).matcher(text).find(),
                        "error text does not match --expect-error " + o.expectError);
        } else if (listed != null) {
            check(false, "authentication succeeded: listTopics returned " + listed + " topics");
        } else {
            check(false, "no authentication failure reported: " + outcome);
        }
    }

    /** Sum of the client metrics with this name (selector metrics: one per network client). */
    static long metricTotal(Map<MetricName, ? extends Metric> metrics, String name) {
        double sum = 0;
        for (Map.Entry<MetricName, ? extends Metric> e : metrics.entrySet()) {
            if (e.getKey().name().equals(name) && e.getValue().metricValue() instanceof Number n) sum += n.doubleValue();
        }
        return Math.round(sum);
    }

    static final List<String> AUTH_METRICS = List.of("successful-authentication-total", "failed-authentication-total",
            "successful-reauthentication-total", "failed-reauthentication-total");

    static Map<String, Long> authMetrics(Map<MetricName, ? extends Metric> metrics) {
        Map<String, Long> out = new LinkedHashMap<>();
        for (String m : AUTH_METRICS) out.put(m, metricTotal(metrics, m));
        return out;
    }

    static void reauth(Options o) throws Exception {
        withTopic(o, admin -> {
            Set<String> acked = java.util.concurrent.ConcurrentHashMap.newKeySet();
            Map<String, Integer> consumed = new java.util.concurrent.ConcurrentHashMap<>();
            List<String> authErrors = Collections.synchronizedList(new ArrayList<>());
            List<String> otherErrors = Collections.synchronizedList(new ArrayList<>());
            CountDownLatch producerDone = new CountDownLatch(1);
            Map<String, Map<String, Long>> metrics = new java.util.concurrent.ConcurrentHashMap<>();
            java.util.function.Consumer<Throwable> onError = e -> {
                if (authFailure(e) != null) authErrors.add(describe(e));
                else otherErrors.add(describe(e));
            };
            Thread consumerThread = new Thread(() -> {
                try (KafkaConsumer<String, String> c = consumer(o, Map.of())) {
                    c.subscribe(List.of(o.topic));
                    while (!expired()) {
                        try {
                            for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(200)))
                                consumed.merge(r.key(), 1, Integer::sum);
                        } catch (AuthenticationException e) { // reported, then keep polling
                            onError.accept(e);
                        }
                        if (producerDone.getCount() == 0 && consumed.keySet().containsAll(acked)) break;
                    }
                    metrics.put("consumer", authMetrics(c.metrics()));
                } catch (Exception e) {
                    onError.accept(e);
                }
            }, "reauth-consumer");
            consumerThread.start();
            long sent = 0;
            try (KafkaProducer<String, String> producer = producer(o, Map.of(ProducerConfig.ACKS_CONFIG, "all"))) {
                long begin = System.nanoTime(), end = begin + (long) (o.durationS * 1e9);
                while (System.nanoTime() < end && !expired()) {
                    long due = (long) ((System.nanoTime() - begin) / 1e9 * o.rate);
                    for (; sent < due; sent++) {
                        String key = "r-" + sent;
                        producer.send(new ProducerRecord<>(o.topic, key, "v-" + sent + "-" + o.tag), (md, e) -> {
                            if (e == null) acked.add(key);
                            else onError.accept(e);
                        });
                    }
                    Thread.sleep(10);
                }
                producer.flush();
                metrics.put("producer", authMetrics(producer.metrics()));
            } finally {
                producerDone.countDown();
            }
            consumerThread.join(remainingMs() + 5000);
            long missing = acked.stream().filter(k -> !consumed.containsKey(k)).count();
            long reauths = 0, failedAuth = 0;
            for (Map<String, Long> m : metrics.values()) {
                reauths += m.get("successful-reauthentication-total");
                failedAuth += m.get("failed-reauthentication-total") + m.get("failed-authentication-total");
            }
            result.put("sent", sent);
            result.put("acked", acked.size());
            result.put("consumed_distinct", consumed.size());
            result.put("consumed_total", consumed.values().stream().mapToInt(Integer::intValue).sum());
            result.put("missing", missing);
            result.put("auth_errors", authErrors.size());
            result.put("auth_error_samples", authErrors.subList(0, Math.min(5, authErrors.size())));
            result.put("other_errors", otherErrors.size());
            result.put("other_error_samples", new ArrayList<>(otherErrors.subList(0, Math.min(5, otherErrors.size()))));
            result.put("metrics", metrics);
            result.put("reauthentications", reauths);
            check(!acked.isEmpty(), "no message was acknowledged");
            check(missing == 0, missing + " of " + acked.size() + " acknowledged messages not consumed");
            check(authErrors.isEmpty(), authErrors.size() + " authentication errors, first: "
                    + (authErrors.isEmpty() ? "" : authErrors.get(0)));
            check(failedAuth == 0, failedAuth + " failed (re-)authentications in the client metrics");
            check(otherErrors.isEmpty(), otherErrors.size() + " client errors, first: "
                    + (otherErrors.isEmpty() ? "" : otherErrors.get(0)));
            check(metrics.size() == 2, "metrics missing from " + metrics.keySet());
            if (o.minReauth > 0)
                check(reauths >= o.minReauth, reauths + " re-authentications counted, expected >= " + o.minReauth);
        });
    }

    // ---- authorization scenarios: report what the client observes --------------------------------

    /** Timeouts (ms) of one authz-* operation, so that a refused one never hangs the scenario. */
    static final long AUTHZ_OP_MS = 15_000;

    /**
     * The name the authz-* scenarios report for a failed operation: the simple class name of the
     * first org.apache.kafka.common.errors.* exception in the cause chain (under the
     * ExecutionException / KafkaException wrappers), else of the outermost non-wrapper.
     */
    static String errorName(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
            if (c.getClass().getName().startsWith("org.apache.kafka.common.errors.")) return c.getClass().getSimpleName();
        }
        Throwable e = t;
        while ((e instanceof ExecutionException || e.getClass() == KafkaException.class)
                && e.getCause() != null && e.getCause() != e) e = e.getCause();
        return e.getClass().getSimpleName();
    }

    /** Records a failed operation: its name (returned) and its full text in "error_texts". */
    @SuppressWarnings("unchecked")
    static String refused(String what, Throwable t) {
        String name = errorName(t);
        Throwable shown = t;
        for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
            if (c.getClass().getSimpleName().equals(name)) {
                shown = c;
                break;
            }
        }
        String text = describe(shown);
        log(what + ": " + text);
        ((Map<String, String>) result.computeIfAbsent("error_texts", k -> new TreeMap<String, String>())).put(what, text);
        return name;
    }

    /** Wait for a future a little longer than the client's own AUTHZ_OP_MS (within the soft deadline). */
    static <T> T awaitOp(Future<T> f) throws Exception {
        return f.get(Math.max(1, remainingMs(AUTHZ_OP_MS + 5000)), TimeUnit.MILLISECONDS);
    }

    /** Producer settings bounding every blocking call and every delivery to about AUTHZ_OP_MS. */
    static Map<String, Object> boundedProducer() {
        return Map.of(
                ProducerConfig.ACKS_CONFIG, "all",
                ProducerConfig.MAX_BLOCK_MS_CONFIG, (int) Math.max(1000, remainingMs(AUTHZ_OP_MS)),
                ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, 10_000,
                ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, (int) AUTHZ_OP_MS);
    }

    static void authzProduce(Options o) {
        Map<String, String> produce = new LinkedHashMap<>();
        Map<String, Long> offsets = new LinkedHashMap<>();
        KafkaProducer<String, String> producer = producer(o, boundedProducer()); // acks=all, idempotence default
        try {
            for (String topic : o.topics.stream().distinct().toList()) {
                try {
                    long offset = awaitOp(producer.send(new ProducerRecord<>(topic, "authz", "v-" + o.tag))).offset();
                    produce.put(topic, "ok");
                    offsets.put(topic, offset);
                } catch (Exception e) {
                    produce.put(topic, refused("produce " + topic, e));
                }
            }
        } finally {
            producer.close(Duration.ofMillis(Math.min(5000, remainingMs())));
        }
        result.put("produce", produce);
        result.put("delivered_offsets", offsets);
    }

    static void authzConsume(Options o) {
        List<String> topics = o.topics.stream().distinct().toList();
        String consume = "ok", commit = "skipped";
        long records = 0;
        Map<String, Long> byTopic = new TreeMap<>();
        Set<String> assigned = new TreeSet<>();
        KafkaConsumer<String, String> c = consumer(o, Map.of(
                ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, (int) AUTHZ_OP_MS,
                ConsumerConfig.REQUEST_TIMEOUT_MS_CONFIG, 10_000)); // group --group, earliest, --group-protocol
        try {
            c.subscribe(topics);
            long end = System.nanoTime() + (long) (o.durationS * 1e9);
            try {
                while (System.nanoTime() < end && !expired()) {
                    long left = Math.max(1, Math.min((end - System.nanoTime()) / 1_000_000, 500));
                    for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(remainingMs(left)))) {
                        records++;
                        byTopic.merge(r.topic(), 1L, Long::sum);
                    }
                    c.assignment().forEach(tp -> assigned.add(tp.toString()));
                }
            } catch (Exception e) {
                consume = refused("consume", e);
            }
            if (consume.equals("ok")) {
                try {
                    c.commitSync(Duration.ofMillis(Math.max(1, remainingMs(AUTHZ_OP_MS))));
                    commit = "ok";
                } catch (Exception e) {
                    commit = refused("commit", e);
                }
            }
        } finally {
            c.close(org.apache.kafka.clients.consumer.CloseOptions.timeout(
                    Duration.ofMillis(Math.min(5000, remainingMs()))));
        }
        result.put("consume", consume);
        result.put("records", records);
        result.put("records_by_topic", byTopic);
        result.put("assigned", new ArrayList<>(assigned));
        result.put("commit", commit);
    }

    static void authzAdmin(Options o) {
        try (Admin admin = admin(o, AUTHZ_OP_MS)) {
            try { // (a)
                result.put("list_topics", new ArrayList<>(new TreeSet<>(awaitOp(admin.listTopics().names()))));
            } catch (Exception e) {
                result.put("list_topics", refused("list_topics", e));
            }
            if (!o.create.isEmpty()) { // (b)
                List<String> names = o.create.stream().distinct().toList();
                Map<String, String> create = new LinkedHashMap<>();
                try {
                    Map<String, org.apache.kafka.common.KafkaFuture<Void>> values = admin.createTopics(names.stream()
                            .map(n -> new NewTopic(n, 1, o.replicationFactor)).toList()).values();
                    for (String n : names) {
                        try {
                            awaitOp(values.get(n));
                            create.put(n, "ok");
                        } catch (Exception e) {
                            create.put(n, refused("create " + n, e));
                        }
                    }
                } catch (Exception e) { // the request itself could not be made
                    String name = refused("create", e);
                    names.forEach(n -> create.putIfAbsent(n, name));
                }
                result.put("create", create);
            }
            if (!o.delete.isEmpty()) { // (c)
                List<String> names = o.delete.stream().distinct().toList();
                Map<String, String> delete = new LinkedHashMap<>();
                try {
                    Map<String, org.apache.kafka.common.KafkaFuture<Void>> values =
                            admin.deleteTopics(names).topicNameValues();
                    for (String n : names) {
                        try {
                            awaitOp(values.get(n));
                            delete.put(n, "ok");
                        } catch (Exception e) {
                            delete.put(n, refused("delete " + n, e));
                        }
                    }
                } catch (Exception e) {
                    String name = refused("delete", e);
                    names.forEach(n -> delete.putIfAbsent(n, name));
                }
                result.put("delete", delete);
            }
            if (o.describeGroup != null) { // (d)
                try {
                    var d = awaitOp(admin.describeConsumerGroups(List.of(o.describeGroup)).all()).get(o.describeGroup);
                    result.put("describe_group", "ok");
                    result.put("describe_group_state", String.valueOf(d.groupState()));
                } catch (Exception e) {
                    result.put("describe_group", refused("describe_group", e));
                }
            }
            if (o.opsTopic != null) result.put("ops", adminOps(admin, o.opsTopic)); // (e)
        }
    }

    /** A call of the Admin API whose result is awaited. */
    interface AdminCall {
        Future<?> call() throws Exception;
    }

    static void adminOp(Map<String, String> ops, String name, AdminCall op) {
        try {
            awaitOp(op.call());
            ops.put(name, "ok");
        } catch (Exception e) {
            ops.put(name, refused(name, e));
        }
    }

    /** One of each administrative operation on topic t (one partition) and on the cluster. */
    static Map<String, String> adminOps(Admin admin, String t) {
        Map<String, String> ops = new LinkedHashMap<>();
        TopicPartition p0 = new TopicPartition(t, 0);
        ConfigResource topic = new ConfigResource(ConfigResource.Type.TOPIC, t);
        AlterConfigOp retention = new AlterConfigOp(new ConfigEntry("retention.ms", "604800000"), AlterConfigOp.OpType.SET);
        adminOp(ops, "describe_topic", () -> admin.describeTopics(List.of(t)).allTopicNames());
        adminOp(ops, "describe_configs", () -> admin.describeConfigs(List.of(topic)).all());
        adminOp(ops, "alter_configs", () -> admin.incrementalAlterConfigs(Map.of(topic, List.of(retention))).all());
        adminOp(ops, "create_partitions", () -> admin.createPartitions(Map.of(t, NewPartitions.increaseTo(2))).all());
        adminOp(ops, "delete_records", () -> admin.deleteRecords(Map.of(p0, RecordsToDelete.beforeOffset(0))).all());
        adminOp(ops, "describe_producers", () -> admin.describeProducers(List.of(p0)).all());
        adminOp(ops, "list_offsets", () -> admin.listOffsets(Map.of(p0, OffsetSpec.latest())).all());
        // Per-partition outcomes (e.g. ElectionNotNeeded) are results; a refusal fails the call.
        adminOp(ops, "elect_leaders", () -> admin.electLeaders(ElectionType.PREFERRED, Set.of(p0)).partitions());
        adminOp(ops, "list_reassignments", () -> admin.listPartitionReassignments().reassignments());
        adminOp(ops, "describe_log_dirs", () -> {
            int node = awaitOp(admin.describeCluster().nodes()).iterator().next().id();
            return admin.describeLogDirs(List.of(node)).allDescriptions();
        });
        adminOp(ops, "describe_client_quotas", () -> admin.describeClientQuotas(ClientQuotaFilter.all()).entities());
        adminOp(ops, "broker_configs", () -> {
            int node = awaitOp(admin.describeCluster().nodes()).iterator().next().id();
            return admin.describeConfigs(List.of(new ConfigResource(ConfigResource.Type.BROKER, String.valueOf(node)))).all();
        });
        adminOp(ops, "list_transactions", () -> admin.listTransactions().all());
        return ops;
    }

    static void authzTxn(Options o) {
        Map<String, Object> conf = new HashMap<>(boundedProducer());
        conf.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, o.transactionalId);
        result.put("transactional_id", o.transactionalId);
        String step = "init";
        KafkaProducer<String, String> producer = producer(o, conf);
        try {
            producer.initTransactions();
            step = "begin";
            producer.beginTransaction();
            step = "send";
            result.put("delivered_offset",
                    awaitOp(producer.send(new ProducerRecord<>(o.topic, "authz-txn", "v-" + o.tag))).offset());
            step = "commit";
            producer.commitTransaction(); // blocks at most max.block.ms
            step = "done";
            result.put("txn", "ok");
        } catch (Exception e) {
            result.put("txn", refused("txn " + step, e));
        } finally {
            producer.close(Duration.ofMillis(Math.min(5000, remainingMs())));
        }
        result.put("step", step);
    }

    // ---- JSON output (no dependency needed for one line) -----------------------------------

    static String json(Object v) {
        if (v == null) return "null";
        if (v instanceof Boolean || v instanceof Integer || v instanceof Long || v instanceof Short) return v.toString();
        if (v instanceof Number n) return Double.isFinite(n.doubleValue()) ? n.toString() : "null";
        if (v instanceof Map<?, ?> m) {
            return m.entrySet().stream().map(e -> quote(String.valueOf(e.getKey())) + ":" + json(e.getValue()))
                    .collect(Collectors.joining(",", "{", "}"));
        }
        if (v instanceof Collection<?> c) return c.stream().map(Scenarios::json).collect(Collectors.joining(",", "[", "]"));
        return quote(v.toString());
    }

    static String quote(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char ch : s.toCharArray()) {
            switch (ch) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                default -> {
                    if (ch < 0x20) b.append(String.format("\\u%04x", (int) ch));
                    else b.append(ch);
                }
            }
        }
        return b.append('"').toString();
    }
}
