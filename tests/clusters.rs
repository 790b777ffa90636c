//! Virtual clusters on the shared three-node cluster: organization acme (the main test issuer)
//! and organization globex (the second issuer) each get a cluster with ports of its own on the
//! same listener. A token authenticates only on a cluster of its provider's organization, on
//! the bootstrap port and on every broker port, and is refused elsewhere exactly as a token of
//! an unknown issuer is, so that a refusal says nothing about which clusters exist. The
//! listener's own ports still serve every organization, as before virtual clusters. A third
//! organization, initech, has a virtual cluster on a second upstream cluster of its own (the
//! harness's one-node cluster), whose topics the shared cluster never sees.

mod common;

use common::raw::Raw;
use common::{
    Idp, ProxyOptions, TestProxy, env, login_args_at, run_client, start_proxy, unique_tag,
};
use kafka_oidc_proxy::kafka::error_code;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

const CLUSTERS: &str = "\
[[clusters]]
organization = \"acme\"
name = \"main\"
listener = \"test\"
bootstrap_port = 0
broker_port_base = 0
[[clusters]]
organization = \"globex\"
name = \"main\"
listener = \"test\"
bootstrap_port = 0
broker_port_base = 0
";

/// Organization initech: the main issuer's tokens for audience `other` (client
/// kafka-wrong-aud), and a virtual cluster on the one-node cluster.
fn dedicated() -> String {
    format!(
        "[[identity.providers]]\norganization = \"initech\"\nidentifier = \"idp\"\n\
         issuer = {:?}\naudience = \"other\"\nscope = \"kafka\"\n\
         [upstreams.dedicated]\nbootstrap_servers = [{:?}]\nmetadata_refresh_secs = 5\n\
         [[clusters]]\norganization = \"initech\"\nname = \"main\"\nupstream = \"dedicated\"\n\
         listener = \"test\"\nbootstrap_port = 0\nbroker_port_base = 0\n",
        Idp::issuer(),
        env("KOP_KAFKA_DEDICATED_BOOTSTRAP"),
    )
}

async fn proxy() -> TestProxy {
    start_proxy(ProxyOptions {
        authentication: "oauthbearer",
        extra: Idp::identity_toml("")
            + &dedicated()
            + Idp::allow_everyone()
            + "initech = [\"User:*\"]\n"
            + CLUSTERS,
        ..ProxyOptions::default()
    })
    .await
}

fn bootstrap(proxy: &TestProxy, endpoint: &str) -> String {
    proxy
        .proxy
        .bootstrap_addr(endpoint)
        .unwrap_or_else(|| panic!("no endpoint {endpoint}"))
        .to_string()
}

/// The Metadata answer on `addr`, logged in with `token`, for `topic` (or every topic).
async fn metadata(addr: &str, token: &str, topic: Option<&str>) -> MetadataResponse {
    let (mut c, code) = Raw::login(addr, token).await;
    assert_eq!(code, 0, "login on {addr}");
    let topics = topic.map(|t| {
        vec![
            MetadataRequestTopic::default()
                .with_name(Some(TopicName(StrBytes::from_string(t.to_owned())))),
        ]
    });
    let request = MetadataRequest::default()
        .with_topics(topics)
        .with_allow_auto_topic_creation(false);
    c.request(12, &request).await
}

/// The broker addresses a Metadata request on `addr` answers, logged in with `token`.
async fn brokers(addr: &str, token: &str) -> Vec<String> {
    let m = metadata(addr, token, None).await;
    let mut seen: Vec<_> = m
        .brokers
        .iter()
        .map(|b| format!("{}:{}", b.host, b.port))
        .collect();
    seen.sort();
    seen
}

#[tokio::test]
async fn a_token_authenticates_only_on_the_clusters_of_its_organization() {
    let proxy = proxy().await;
    let acme = Idp::token(&Idp::issuer(), "kafka-producer").await;
    let globex = Idp::token(&Idp::second_issuer(), "kafka-producer").await;
    let (acme_bootstrap, globex_bootstrap) = (
        bootstrap(&proxy, "acme/main"),
        bootstrap(&proxy, "globex/main"),
    );

    // Each organization's brokers are the proxy's ports of its own cluster.
    let acme_brokers = brokers(&acme_bootstrap, &acme).await;
    let globex_brokers = brokers(&globex_bootstrap, &globex).await;
    assert_eq!(acme_brokers.len(), 3, "{acme_brokers:?}");
    assert_eq!(globex_brokers.len(), 3, "{globex_brokers:?}");
    assert!(
        acme_brokers.iter().all(|b| !globex_brokers.contains(b)),
        "{acme_brokers:?} {globex_brokers:?}"
    );

    // The other organization's token is refused on the bootstrap port and on each broker port.
    for (addr, token) in std::iter::once((&acme_bootstrap, &globex))
        .chain(acme_brokers.iter().map(|b| (b, &globex)))
        .chain(std::iter::once((&globex_bootstrap, &acme)))
        .chain(globex_brokers.iter().map(|b| (b, &acme)))
    {
        let (_, code) = Raw::login(addr, token).await;
        assert_eq!(code, error_code::SASL_AUTHENTICATION_FAILED, "{addr}");
    }
    // Its own organization's token works on each broker port.
    for (addr, token) in acme_brokers
        .iter()
        .map(|b| (b, &acme))
        .chain(globex_brokers.iter().map(|b| (b, &globex)))
    {
        let (_, code) = Raw::login(addr, token).await;
        assert_eq!(code, 0, "{addr}");
    }

    // The listener's own ports serve both organizations, as before.
    let shared = proxy.bootstrap();
    for token in [&acme, &globex] {
        let (_, code) = Raw::login(&shared, token).await;
        assert_eq!(code, 0);
    }
    let counts = proxy.proxy.auth_counts();
    let refused = counts
        .iter()
        .filter(|((_, outcome), _)| outcome == "unknown_issuer")
        .map(|(_, n)| n)
        .sum::<u64>();
    assert_eq!(refused, 8, "{counts:?}");
}

#[tokio::test]
async fn a_virtual_cluster_on_a_dedicated_upstream_holds_its_own_topics() {
    let proxy = proxy().await;
    let initech = Idp::token(&Idp::issuer(), "kafka-wrong-aud").await;
    let acme = Idp::token(&Idp::issuer(), "kafka-producer").await;
    let (dedicated, shared) = (
        bootstrap(&proxy, "initech/main"),
        bootstrap(&proxy, "acme/main"),
    );
    let dedicated_brokers = brokers(&dedicated, &initech).await;
    assert_eq!(dedicated_brokers.len(), 1, "{dedicated_brokers:?}");
    assert_eq!(
        proxy.proxy.broker_ports("initech/main").len(),
        1,
        "one port, for the one node"
    );
    // Organizations on the shared cluster cannot log in here, nor initech there.
    let (_, code) = Raw::login(&dedicated, &acme).await;
    assert_eq!(code, error_code::SASL_AUTHENTICATION_FAILED);
    let (_, code) = Raw::login(&shared, &initech).await;
    assert_eq!(code, error_code::SASL_AUTHENTICATION_FAILED);

    // A real client produces and consumes on the dedicated cluster; the topic is there and
    // only there.
    let topic = format!("kop-dedicated-{}", unique_tag());
    let scenario = [
        "basic",
        "--topic",
        &topic,
        "--replication-factor",
        "1",
        "--messages",
        "500",
        "--keep-topic",
    ];
    let issuer = Idp::issuer();
    let json = run_as(
        "confluent",
        &scenario,
        &dedicated,
        &issuer,
        "kafka-wrong-aud",
    )
    .await;
    assert_eq!(json["ok"], true);
    let there = metadata(&dedicated, &initech, Some(&topic)).await;
    assert_eq!(there.topics[0].error_code, 0, "{there:?}");
    assert_eq!(there.topics[0].partitions.len(), 6);
    let not_here = metadata(&shared, &acme, Some(&topic)).await;
    assert_eq!(
        not_here.topics[0].error_code,
        error_code::UNKNOWN_TOPIC_OR_PARTITION,
        "{not_here:?}"
    );
}

/// Runs `scenario` (its name, then its options) of `client` on `bootstrap`, logged in as
/// `login` of `issuer`; answers the client program's JSON.
async fn run_as(
    client: &str,
    scenario: &[&str],
    bootstrap: &str,
    issuer: &str,
    login: &str,
) -> serde_json::Value {
    let _slot = common::client_slots().acquire().await.expect("slots");
    let login = login_args_at(issuer, login);
    let mut args = vec!["--bootstrap", bootstrap];
    args.extend(login.iter().map(String::as_str));
    args.extend_from_slice(&scenario[1..]);
    let run = run_client(client, scenario[0], &args).await;
    eprintln!("{client} {scenario:?} on {bootstrap}: {}", run.json);
    run.json
}

/// As [`run_as`], logged in as kafka-producer.
async fn run(client: &str, scenario: &[&str], bootstrap: &str, issuer: &str) -> serde_json::Value {
    run_as(client, scenario, bootstrap, issuer, "kafka-producer").await
}

#[tokio::test]
async fn real_clients_use_their_organizations_cluster_and_are_refused_on_another() {
    let proxy = proxy().await;
    let (acme, globex) = (
        bootstrap(&proxy, "acme/main"),
        bootstrap(&proxy, "globex/main"),
    );
    let (main, second) = (Idp::issuer(), Idp::second_issuer());
    let (librdkafka, java, refused_java, refused_python) = tokio::join!(
        run("confluent", &["basic"], &acme, &main),
        run("java", &["basic"], &globex, &second),
        run("java", &["auth-fail"], &globex, &main),
        run("confluent", &["auth-fail"], &acme, &second),
    );
    assert_eq!(librdkafka["ok"], true);
    assert_eq!(java["ok"], true);
    for refused in [refused_java, refused_python] {
        assert_eq!(refused["auth_error_source"], "broker", "{refused}");
        let text = refused["error_text"].as_str().unwrap_or_default();
        assert!(text.contains("token issuer not accepted"), "{refused}");
    }
}

/// Waits up to 10 s for `check` to hold.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..100 {
        if check() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{what}: not within 10 s");
}

/// The metrics listener's readiness: an upstream cluster that only one organization's
/// virtual clusters reach is reported but does not make the proxy unready (its being down
/// must not take every proxy, and every other organization, out of the load balancer); one
/// that virtual clusters of two organizations share does.
#[tokio::test]
async fn only_an_upstream_several_organizations_depend_on_decides_readiness() {
    let cluster = |org: &str| {
        format!(
            "[[clusters]]\norganization = {org:?}\nname = \"down\"\nupstream = \"gone\"\n\
             listener = \"test\"\nbootstrap_port = 0\nbroker_port_base = 0\n"
        )
    };
    let start = |clusters: String| {
        start_proxy(ProxyOptions {
            authentication: "oauthbearer",
            extra: Idp::identity_toml("")
                + "[upstreams.gone]\nbootstrap_servers = [\"127.0.0.1:1\"]\n"
                + Idp::allow_everyone()
                + &clusters,
            wait_ready: false,
            ..ProxyOptions::default()
        })
    };
    let report_once_default_answers = |proxy: &TestProxy| {
        let readiness = proxy.proxy.readiness();
        async move {
            eventually("the shared cluster answers", || {
                readiness()
                    .upstreams
                    .iter()
                    .any(|u| u.name == "default" && u.answers)
            })
            .await;
            readiness()
        }
    };

    let one = start(cluster("acme")).await;
    let report = report_once_default_answers(&one).await;
    assert_eq!(report.reasons(), Vec::<String>::new(), "{report:?}");
    let gone = report.upstreams.iter().find(|u| u.name == "gone");
    assert!(
        gone.is_some_and(|u| !u.answers && !u.shared),
        "reported, not shared: {report:?}"
    );
    assert!(
        report
            .upstreams
            .iter()
            .any(|u| u.name == "default" && u.shared)
    );

    let two = start(cluster("acme") + &cluster("globex")).await;
    let report = report_once_default_answers(&two).await;
    assert_eq!(
        report.reasons(),
        ["upstream cluster gone does not answer"],
        "{report:?}"
    );
}

#[tokio::test]
async fn virtual_clusters_reloaded_from_the_file_open_and_close_live() {
    let proxy = proxy().await;
    let acme = Idp::token(&Idp::issuer(), "kafka-producer").await;
    let globex = Idp::token(&Idp::second_issuer(), "kafka-producer").await;
    let acme_main = bootstrap(&proxy, "acme/main");
    let globex_main = bootstrap(&proxy, "globex/main");
    let (mut acme_session, code) = Raw::login(&acme_main, &acme).await;
    assert_eq!(code, 0);
    let (mut globex_session, code) = Raw::login(&globex_main, &globex).await;
    assert_eq!(code, 0);

    // A file naming a listener or an upstream cluster the proxy does not run with changes
    // nothing: listeners and upstream clusters change only with a restart.
    let mut file = proxy.config.clone();
    file.clusters[0].listener = "elsewhere".into();
    let refused = proxy.proxy.reload(file).unwrap_err();
    assert_eq!(refused.0[0].0, "clusters[0].listener", "{refused}");
    let (_, code) = Raw::login(&acme_main, &acme).await;
    assert_eq!(code, 0, "acme/main still serves");

    // acme/main goes, acme/second comes, globex/main moves to the dedicated upstream.
    let mut file = proxy.config.clone();
    let globex_index = file
        .clusters
        .iter()
        .position(|c| c.organization == "globex")
        .expect("globex/main");
    file.clusters[globex_index].upstream = "dedicated".into();
    let acme_index = file
        .clusters
        .iter()
        .position(|c| c.organization == "acme")
        .expect("acme/main");
    file.clusters[acme_index].name = "second".into();
    proxy.proxy.reload(file).expect("reloaded");
    eventually("acme/second opens", || {
        proxy.proxy.bootstrap_addr("acme/second").is_some()
            && proxy.proxy.broker_ports("acme/second").len() == 3
    })
    .await;
    assert!(proxy.proxy.bootstrap_addr("acme/main").is_none());

    // The sessions of the closed and the changed cluster end; the new endpoints serve.
    assert!(
        acme_session.read_frame().await.is_none(),
        "acme/main closed"
    );
    assert!(
        globex_session.read_frame().await.is_none(),
        "globex/main closed"
    );
    assert!(tokio::net::TcpStream::connect(&acme_main).await.is_err());
    let second = bootstrap(&proxy, "acme/second");
    assert_eq!(brokers(&second, &acme).await.len(), 3);
    let moved = bootstrap(&proxy, "globex/main");
    assert_ne!(moved, globex_main);
    assert_eq!(
        brokers(&moved, &globex).await.len(),
        1,
        "the one-node cluster"
    );
    let (_, code) = Raw::login(&second, &globex).await;
    assert_eq!(code, error_code::SASL_AUTHENTICATION_FAILED);
}

#[tokio::test]
async fn one_corporate_provider_serves_two_organizations_each_on_its_own_cluster() {
    let provider = |org: &str| {
        format!(
            "[[identity.providers]]\norganization = {org:?}\nidentifier = \"corporate\"\n\
             issuer = {:?}\naudience = \"kafka\"\nscope = \"kafka\"\n",
            Idp::issuer()
        )
    };
    let proxy = start_proxy(ProxyOptions {
        authentication: "oauthbearer",
        extra: format!(
            "[identity]\nallow_http_loopback = true\n{}{}{}{CLUSTERS}",
            provider("acme"),
            provider("globex"),
            Idp::allow_everyone()
        ),
        ..ProxyOptions::default()
    })
    .await;
    let token = Idp::token(&Idp::issuer(), "kafka-producer").await;
    for cluster in ["acme/main", "globex/main"] {
        let (_, code) = Raw::login(&bootstrap(&proxy, cluster), &token).await;
        assert_eq!(code, 0, "{cluster}");
    }
    // On the listener's own ports nothing says which organization the token is for.
    let (_, code) = Raw::login(&proxy.bootstrap(), &token).await;
    assert_eq!(code, error_code::SASL_AUTHENTICATION_FAILED);
    let counts = proxy.proxy.auth_counts();
    let count = |provider: &str, outcome: &str| {
        counts
            .get(&(provider.to_owned(), outcome.to_owned()))
            .copied()
            .unwrap_or_default()
    };
    assert_eq!(count("acme/corporate", "success"), 1, "{counts:?}");
    assert_eq!(count("globex/corporate", "success"), 1, "{counts:?}");
    let ambiguous: u64 = counts
        .iter()
        .filter(|((_, outcome), _)| outcome == "ambiguous_issuer")
        .map(|(_, n)| n)
        .sum();
    assert_eq!(ambiguous, 1, "{counts:?}");
}

#[tokio::test]
async fn virtual_clusters_share_one_tls_port_told_apart_by_server_name() {
    let dir = std::env::temp_dir().join(format!("kop-sni-{}", unique_tag()));
    let (cert, key) = common::sni::wildcard_certificate(&dir);
    let sni = format!(
        "[[listeners]]\nname = \"sni\"\nbind_address = \"127.0.0.1\"\nadvertised_host = \"127.0.0.1\"\n\
         bootstrap_port = 0\nsni_domain = \"kafka.test\"\nauthentication = \"oauthbearer\"\n\
         [listeners.tls]\ncert_file = {cert:?}\nkey_file = {key:?}\n\
         [[clusters]]\norganization = \"acme\"\nname = \"main\"\nlistener = \"sni\"\n\
         [[clusters]]\norganization = \"globex\"\nname = \"main\"\nlistener = \"sni\"\n"
    );
    let proxy = start_proxy(ProxyOptions {
        authentication: "oauthbearer",
        extra: Idp::identity_toml("") + Idp::allow_everyone() + &sni,
        ..ProxyOptions::default()
    })
    .await;
    let addr = proxy
        .proxy
        .bootstrap_addr("acme/main")
        .expect("acme/main on the SNI listener");
    assert_eq!(proxy.proxy.bootstrap_addr("globex/main"), Some(addr));

    // A name that leads nowhere is closed before the proxy answers the ClientHello: the client
    // sees no certificate.
    for name in [
        "acme-main.kafka.test",
        "acme-main-broker-2.kafka.test",
        "globex-main.kafka.test",
    ] {
        common::sni::handshake(addr, name)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    for name in [
        "initech-main.kafka.test",
        "acme-main-broker-x.kafka.test",
        "acme-main.elsewhere.test",
    ] {
        let refused = common::sni::handshake(addr, name).await.expect_err(name);
        assert!(!refused.contains("certificate"), "{name}: {refused}");
    }
    common::wait_for_log(&["no virtual cluster has this server name", "initech-main"]).await;

    // Real clients reach their organization's cluster by name; broker names resolve to the
    // proxy in the clients' own mount namespace.
    let mut hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    for org in ["acme", "globex"] {
        hosts.push_str(&format!("\n127.0.0.1 {org}-main.kafka.test"));
        for node in 1..=3 {
            hosts.push_str(&format!(" {org}-main-broker-{node}.kafka.test"));
        }
    }
    hosts.push('\n');
    let hosts_file = dir.join("hosts");
    std::fs::write(&hosts_file, hosts).expect("hosts");
    let hosts_file = hosts_file.to_str().expect("utf-8 path").to_owned();
    let ca = common::tls_dir().join("ca.pem");
    let ca = ca.to_str().expect("utf-8 path").to_owned();
    let wrapper = [
        "unshare",
        "-m",
        "sh",
        "-c",
        "mount --bind \"$0\" /etc/hosts && exec \"$@\"",
        hosts_file.as_str(),
    ];
    let run = async |client: &str, org: &str, issuer: &str| {
        let _slot = common::client_slots().acquire().await.expect("slots");
        let bootstrap = format!("{org}-main.kafka.test:{}", addr.port());
        let mut login = login_args_at(issuer, "kafka-producer");
        login[1] = "SASL_SSL".into();
        let mut args = vec!["--bootstrap", bootstrap.as_str(), "--ca-file", ca.as_str()];
        args.extend(login.iter().map(String::as_str));
        args.extend(["--messages", "500"]);
        common::try_run_client_in(&wrapper, client, "basic", &args)
            .await
            .unwrap_or_else(|e| panic!("{client} on {bootstrap}: {e}"))
            .json
    };
    let (main, second) = (Idp::issuer(), Idp::second_issuer());
    let (librdkafka, java) = tokio::join!(
        run("confluent", "acme", &main),
        run("java", "globex", &second),
    );
    assert_eq!(librdkafka["ok"], true);
    assert_eq!(java["ok"], true);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Both organizations in namespaces of their own on the shared cluster.
const NAMESPACED: &str = "\
[[clusters]]
organization = \"acme\"
name = \"main\"
listener = \"test\"
bootstrap_port = 0
broker_port_base = 0
namespace = \"acme.\"
[[clusters]]
organization = \"globex\"
name = \"main\"
listener = \"test\"
bootstrap_port = 0
broker_port_base = 0
namespace = \"globex.\"
";

#[tokio::test]
async fn organizations_sharing_the_cluster_each_see_only_their_namespace() {
    let proxy = start_proxy(ProxyOptions {
        authentication: "oauthbearer",
        extra: Idp::identity_toml("") + Idp::allow_everyone() + NAMESPACED,
        ..ProxyOptions::default()
    })
    .await;
    let (acme, globex) = (
        bootstrap(&proxy, "acme/main"),
        bootstrap(&proxy, "globex/main"),
    );
    // The two organizations name their topics the same; each holds its own data.
    let topic = format!("orders-{}", unique_tag());
    let other = format!("{topic}-b");
    let (main, second) = (Idp::issuer(), Idp::second_issuer());
    let basic = |topic: &str| {
        [
            "basic",
            "--topic",
            topic,
            "--messages",
            "500",
            "--keep-topic",
        ]
        .map(str::to_owned)
    };
    let (same, different) = (basic(&topic), basic(&other));
    let same: Vec<&str> = same.iter().map(String::as_str).collect();
    let different: Vec<&str> = different.iter().map(String::as_str).collect();
    let (librdkafka, java, python, node) = tokio::join!(
        run("confluent", &same, &acme, &main),
        run("java", &same, &globex, &second),
        run("kafka-python", &different, &globex, &second),
        run("kafkajs", &different, &acme, &main),
    );
    for (client, run) in [
        ("confluent", librdkafka),
        ("java", java),
        ("kafka-python", python),
        ("kafkajs", node),
    ] {
        assert_eq!(run["ok"], true, "{client}: {run}");
    }

    // Each lists its own topic by the name it gave, and nothing of the other or of Kafka's
    // internal topics; the shared cluster holds both, prefixed.
    let acme_token = Idp::token(&main, "kafka-producer").await;
    let listed = metadata(&acme, &acme_token, None).await;
    let names: Vec<_> = listed
        .topics
        .iter()
        .filter_map(|t| t.name.as_ref().map(|n| n.0.to_string()))
        .collect();
    assert!(names.contains(&topic), "{names:?}");
    assert!(
        names
            .iter()
            .all(|n| !n.starts_with("globex.") && !n.starts_with("acme.") && !n.starts_with("__")),
        "{names:?}"
    );
    for prefixed in [format!("acme.{topic}"), format!("globex.{topic}")] {
        let m = metadata(&proxy.bootstrap(), &acme_token, Some(&prefixed)).await;
        assert_eq!(
            m.topics[0].error_code, 0,
            "{prefixed} on the shared cluster"
        );
    }
    // Only the API keys whose names cross the namespace are offered.
    let (mut c, code) = Raw::login(&acme, &acme_token).await;
    assert_eq!(code, 0);
    // Kafka's limit of 249 characters counts the prefix: the answer names the client's topic.
    let long = "x".repeat(249 - "acme.".len() + 1);
    let created = c
        .request(
            7,
            &kafka_protocol::messages::CreateTopicsRequest::default()
                .with_topics(vec![
                    kafka_protocol::messages::create_topics_request::CreatableTopic::default()
                        .with_name(TopicName(StrBytes::from_string(long.clone())))
                        .with_num_partitions(1)
                        .with_replication_factor(3),
                ])
                .with_timeout_ms(30_000),
        )
        .await;
    let result = &created.topics[0];
    assert_eq!(result.name.0.as_str(), long);
    assert_eq!(result.error_code, 17, "INVALID_TOPIC_EXCEPTION: {result:?}");
    let message = result
        .error_message
        .as_ref()
        .map(|m| m.to_string())
        .unwrap_or_default();
    assert!(!message.contains("acme."), "{message}");
    let versions = c
        .request(3, &kafka_protocol::messages::ApiVersionsRequest::default())
        .await;
    let keys: Vec<i16> = versions.api_keys.iter().map(|k| k.api_key).collect();
    assert!(keys.contains(&0) && keys.contains(&3), "{keys:?}");
    assert!(!keys.contains(&30) && !keys.contains(&43), "{keys:?}");
}

#[tokio::test]
async fn transactions_and_groups_run_inside_a_namespace() {
    let proxy = start_proxy(ProxyOptions {
        authentication: "oauthbearer",
        extra: Idp::identity_toml("") + Idp::allow_everyone() + NAMESPACED,
        ..ProxyOptions::default()
    })
    .await;
    let (acme, globex) = (
        bootstrap(&proxy, "acme/main"),
        bootstrap(&proxy, "globex/main"),
    );
    let (main, second) = (Idp::issuer(), Idp::second_issuer());
    let run = async |client: &str, scenario: &[&str], bootstrap: &str, issuer: &str| {
        let json = run(client, scenario, bootstrap, issuer).await;
        assert_eq!(json["ok"], true, "{client} {scenario:?}: {json}");
    };
    tokio::join!(
        run("confluent", &["transactions"], &acme, &main),
        run("java", &["transactions"], &globex, &second),
        run("kafkajs", &["transactions"], &acme, &main),
        run("kafka-python", &["transactions"], &globex, &second),
        run("java", &["group"], &acme, &main),
        // KIP-848: the group, its subscription and its assignment in the namespace.
        run(
            "java",
            &["group", "--group-protocol", "consumer"],
            &globex,
            &second
        ),
    );
}

#[tokio::test]
async fn each_client_administers_topics_groups_and_records_inside_a_namespace() {
    let proxy = start_proxy(ProxyOptions {
        authentication: "oauthbearer",
        extra: Idp::identity_toml("") + Idp::allow_everyone() + NAMESPACED,
        ..ProxyOptions::default()
    })
    .await;
    let (acme, globex) = (
        bootstrap(&proxy, "acme/main"),
        bootstrap(&proxy, "globex/main"),
    );
    let (main, second) = (Idp::issuer(), Idp::second_issuer());
    let admin = ["admin", "--messages", "200"];
    // kafka-python and kafkajs alter configs with the legacy AlterConfigs, the others with
    // IncrementalAlterConfigs; each in its organization's namespace.
    let (librdkafka, java, python, node) = tokio::join!(
        run("confluent", &admin, &acme, &main),
        run("java", &admin, &globex, &second),
        run("kafka-python", &admin, &acme, &main),
        run("kafkajs", &admin, &globex, &second),
    );
    let runs = [
        ("confluent", "acme", librdkafka),
        ("java", "globex", java),
        ("kafka-python", "acme", python),
        ("kafkajs", "globex", node),
    ];
    for (client, _, run) in &runs {
        assert_eq!(run["ok"], true, "{client}: {run}");
    }
    // Every listing is of the client's own namespace, in its own names: nothing prefixed,
    // nothing internal, no topic of the other organization.
    for (client, organization, run) in &runs {
        let others: Vec<&str> = runs
            .iter()
            .filter(|(_, o, _)| o != organization)
            .filter_map(|(_, _, r)| r["topic"].as_str())
            .collect();
        for listing in ["listed_topics", "listed_groups"] {
            let names: Vec<&str> = run[listing]
                .as_array()
                .unwrap_or_else(|| panic!("{client}: no {listing}"))
                .iter()
                .filter_map(|n| n.as_str())
                .collect();
            assert!(
                names.iter().all(|n| !n.starts_with("acme.")
                    && !n.starts_with("globex.")
                    && !n.starts_with("__")
                    && !others.contains(n)),
                "{client} {listing}: {names:?}"
            );
        }
    }
}
